package io.squashproxy.proxy.upstream;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** {@link UpstreamHttp} on the JDK's client: manifests, HEADs, tag lists and referrers (small bodies). */
final class JdkHttp implements UpstreamHttp {
  /**
   * The JDK client's own tasks (handing body bytes over, completing responses; none of them blocks). Started
   * at once: by default the client starts threads on demand in whichever thread asks, and a squash worker's
   * threads run at a lower CPU priority that a thread they start would inherit.
   */
  private static final ExecutorService THREADS = threads(4);

  private final HttpClient http;
  private final Duration requestTimeout;
  private final Duration idleTimeout;

  JdkHttp(UpstreamSettings settings) {
    this.http = HttpClient.newBuilder()
        .executor(THREADS)
        .followRedirects(HttpClient.Redirect.NEVER)
        .connectTimeout(settings.connectTimeout())
        .build();
    this.requestTimeout = settings.requestTimeout();
    this.idleTimeout = settings.idleTimeout();
  }

  @Override
  public Reply send(String method, URI uri, Map<String, String> headers) throws IOException {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(requestTimeout)
        .method(method, HttpRequest.BodyPublishers.noBody());
    headers.forEach(b::header);
    try {
      HttpResponse<InputStream> r = http.send(b.build(), IdleTimeoutBody.handler(idleTimeout));
      return new Reply(r.statusCode(), r.headers()::firstValue, r.body());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  @Override
  public void close() {
    // the JDK client has no close in Java 17; its selector thread ends with the last reference
  }

  private static ExecutorService threads(int n) {
    AtomicInteger ids = new AtomicInteger();
    ThreadPoolExecutor e = new ThreadPoolExecutor(n, n, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "upstream-http-" + ids.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    e.prestartAllCoreThreads();
    return e;
  }
}
