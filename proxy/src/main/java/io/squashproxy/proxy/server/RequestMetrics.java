package io.squashproxy.proxy.server;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.net.SocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per request: {@code squash_proxy_requests} (route, method, status, latency) and, when enabled, one access
 * log line on the logger {@code io.squashproxy.proxy.access}.
 */
public final class RequestMetrics {
  private static final Logger ACCESS = LoggerFactory.getLogger("io.squashproxy.proxy.access");

  private final MeterRegistry registry;
  private final boolean accessLog;

  public RequestMetrics(MeterRegistry registry) {
    this(registry, false);
  }

  public RequestMetrics(MeterRegistry registry, boolean accessLog) {
    this.registry = registry;
    this.accessLog = accessLog;
  }

  public void record(String route, String method, int status, long nanos) {
    TimerKey key = new TimerKey(route, method, status);
    Timer t = timers.get(key);
    if (t == null) {
      t = timers.computeIfAbsent(key, k -> Timer.builder("squash_proxy_requests")
          .description("client requests to the registry API")
          .tag("route", k.route()).tag("method", k.method()).tag("status", Integer.toString(k.status()))
          .register(registry));
    }
    t.record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * Registering a timer builds and sorts its tags and looks it up in the registry: too much for every
   * request, so each combination is looked up once. The map holds no more than the registry already does
   * (one timer per combination).
   */
  private record TimerKey(String route, String method, int status) {}

  private final ConcurrentHashMap<TimerKey, Timer> timers = new ConcurrentHashMap<>();

  /** The access log line, when enabled: remote, method, URI, status, bytes, milliseconds. */
  public void log(SocketAddress remote, String method, String uri, int status, long bytes, long nanos) {
    if (accessLog && ACCESS.isInfoEnabled()) {
      ACCESS.info("{} \"{} {}\" {} {} {}ms", remote, method, uri, status, bytes,
          TimeUnit.NANOSECONDS.toMillis(nanos));
    }
  }
}
