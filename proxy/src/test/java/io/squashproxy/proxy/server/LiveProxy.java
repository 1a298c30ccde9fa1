package io.squashproxy.proxy.server;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.net.InetSocketAddress;

/**
 * The registry listener as it runs in production ({@link ProxyServer} with the {@link ProxyInitializer}
 * pipeline: idle timeout, HTTP codec with its limits, aggregator, {@link RegistryHandler}) on an ephemeral
 * 127.0.0.1 port, over a {@link ProxyHarness}.
 */
final class LiveProxy implements AutoCloseable {
  final ProxyHarness harness;
  final ProxyServer server;

  LiveProxy(ProxyHarness harness, int idleSeconds) throws InterruptedException, java.io.IOException {
    this.harness = harness;
    RequestMetrics metrics = new RequestMetrics(new SimpleMeterRegistry());
    this.server = ProxyServer.start(new InetSocketAddress("127.0.0.1", 0), new ProxyInitializer(null, idleSeconds,
        () -> new RegistryHandler(harness.service, harness.upstreams, harness.io, true, metrics)), 2);
  }

  int port() {
    return server.address().getPort();
  }

  String url() {
    return "http://127.0.0.1:" + port();
  }

  @Override
  public void close() {
    server.close();
  }
}
