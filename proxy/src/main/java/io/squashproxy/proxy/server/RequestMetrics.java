package io.squashproxy.proxy.server;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/** {@code squash_proxy_requests}: client requests by route, method and status, with their latency. */
public final class RequestMetrics {
  private final MeterRegistry registry;

  public RequestMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public void record(String route, String method, int status, long nanos) {
    Timer.builder("squash_proxy_requests")
        .description("client requests to the registry API")
        .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
        .register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }
}
