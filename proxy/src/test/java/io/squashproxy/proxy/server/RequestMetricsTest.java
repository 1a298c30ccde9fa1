package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class RequestMetricsTest {

  @Test
  void accessLogLinesOnlyWhenEnabledAndMetricsAlways() {
    Logger access = (Logger) LoggerFactory.getLogger("io.squashproxy.proxy.access");
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.start();
    access.addAppender(events);
    try {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      InetSocketAddress remote = new InetSocketAddress("127.0.0.1", 40000);
      new RequestMetrics(registry, false).log(remote, "GET", "/v2/app/manifests/1", 200, 10, 1_000_000);
      assertEquals(0, events.list.size());
      RequestMetrics on = new RequestMetrics(registry, true);
      on.log(remote, "GET", "/v2/app/blobs/sha256:ab", 206, 4, 2_000_000);
      on.record("blob", "GET", 206, 2_000_000);
      assertEquals(1, events.list.size());
      String line = events.list.get(0).getFormattedMessage();
      assertTrue(line.contains("\"GET /v2/app/blobs/sha256:ab\" 206 4 2ms"), line);
      assertEquals(1, registry.get("squash_proxy_requests").tag("status", "206").timer().count());
    } finally {
      access.detachAppender(events);
    }
  }
}
