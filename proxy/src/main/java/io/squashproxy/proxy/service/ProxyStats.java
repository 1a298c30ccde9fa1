package io.squashproxy.proxy.service;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the service counts, named as Distribution's proxy names its metrics (requests, hits, misses, bytes
 * by type), published through Micrometer. The adders stay readable for tests and the status page.
 */
public final class ProxyStats {
  public final LongAdder squashes = new LongAdder();
  public final LongAdder squashFailures = new LongAdder();
  /** Squashes that took two passes: layers kept, or an image the one pass cannot do (see the log line). */
  public final LongAdder twoPassSquashes = new LongAdder();
  public final LongAdder squashesInFlight = new LongAdder();
  public final LongAdder squashBytesIn = new LongAdder();
  public final LongAdder squashBytesOut = new LongAdder();
  public final LongAdder upstreamBlobGets = new LongAdder();
  public final LongAdder upstreamBlobBytes = new LongAdder();
  public final LongAdder upstreamManifestGets = new LongAdder();
  public final LongAdder upstreamManifestHeads = new LongAdder();
  public final LongAdder blobHits = new LongAdder();
  public final LongAdder blobMisses = new LongAdder();
  public final LongAdder staleServed = new LongAdder();
  /** {@code Range} requests for blobs (lazy pulls read eStargz layers this way), and the bytes they sent. */
  public final LongAdder rangedBlobRequests = new LongAdder();
  public final LongAdder rangedBlobBytes = new LongAdder();
  /** Of those, the ones sent with {@code sendfile} (plain HTTP), the bytes never copied through the JVM. */
  public final LongAdder rangedBlobRequestsZeroCopy = new LongAdder();
  private final Timer squashDuration;
  private final MeterRegistry registry;

  public ProxyStats() {
    this(new SimpleMeterRegistry());
  }

  public ProxyStats(MeterRegistry registry) {
    this.registry = registry;
    counter("squash_proxy_squashes", "images squashed", squashes);
    counter("squash_proxy_squashes_two_passes", "squashes that spooled every layer first: layers kept, or an image "
        + "the one-pass squash cannot write (hard links across layers, a path twice in a layer)", twoPassSquashes);
    counter("squash_proxy_squash_failures", "squashes that failed (the image was passed through or the pull failed)",
        squashFailures);
    bytes("squash_proxy_squash_input", "compressed layer bytes of the images squashed", squashBytesIn);
    bytes("squash_proxy_squash_output", "compressed layer bytes of the squashed images", squashBytesOut);
    FunctionCounter.builder("squash_proxy_squash_saved", this,
            // Never negative: squashes of incompressible layers can come out larger, and a negative counter
            // fails the whole /metrics scrape.
            s -> Math.max(0, s.squashBytesIn.doubleValue() - s.squashBytesOut.doubleValue()))
        .description("compressed bytes the squashes removed").baseUnit("bytes").register(registry);
    Gauge.builder("squash_proxy_squashes_in_flight", squashesInFlight, LongAdder::doubleValue)
        .description("squashes running now").register(registry);
    upstream("blob", "get", upstreamBlobGets);
    upstream("manifest", "get", upstreamManifestGets);
    upstream("manifest", "head", upstreamManifestHeads);
    FunctionCounter.builder("squash_proxy_upstream_bytes", upstreamBlobBytes, LongAdder::doubleValue)
        .description("blob bytes fetched from upstreams").baseUnit("bytes").register(registry);
    FunctionCounter.builder("squash_proxy_cache_hits", blobHits, LongAdder::doubleValue).tag("type", "blob")
        .description("blob requests served from the cache").register(registry);
    FunctionCounter.builder("squash_proxy_cache_misses", blobMisses, LongAdder::doubleValue).tag("type", "blob")
        .description("blob requests that went upstream").register(registry);
    counter("squash_proxy_stale_served", "cached tags served while upstream was unreachable", staleServed);
    FunctionCounter.builder("squash_proxy_blob_range_requests", rangedBlobRequestsZeroCopy, LongAdder::doubleValue)
        .tag("send", "zero-copy").description("blob requests with a Range (lazy pulls), by how they were sent")
        .register(registry);
    FunctionCounter.builder("squash_proxy_blob_range_requests", this,
            st -> st.rangedBlobRequests.doubleValue() - st.rangedBlobRequestsZeroCopy.doubleValue())
        .tag("send", "copied").description("blob requests with a Range (lazy pulls), by how they were sent")
        .register(registry);
    bytes("squash_proxy_blob_range", "bytes sent for blob requests with a Range", rangedBlobBytes);
    this.squashDuration = Timer.builder("squash_proxy_squash_duration")
        .description("time to squash one image").publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(10)).maximumExpectedValue(Duration.ofHours(1))
        .register(registry);
  }

  public MeterRegistry registry() {
    return registry;
  }

  /**
   * {@code squash_proxy_upstream_request_duration}: time of one upstream request ({@code type} manifest or
   * blob, {@code method} get or head, {@code outcome} ok or error); for blobs, until the body is stored.
   */
  public void upstreamTook(String type, String method, boolean ok, long nanos) {
    Timer.builder("squash_proxy_upstream_request_duration")
        .description("latency of requests to upstream registries (blobs: until stored)")
        .tag("type", type).tag("method", method).tag("outcome", ok ? "ok" : "error")
        .publishPercentileHistogram()
        .register(registry)
        .record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /**
   * {@code squash_proxy_upstream_retries_total}: an upstream request (or a blob body that broke off) tried
   * again, by upstream and reason ({@code http_503}, {@code http_429}, {@code connection}, {@code timeout},
   * {@code body}).
   */
  public void upstreamRetry(String upstream, String reason) {
    io.micrometer.core.instrument.Counter.builder("squash_proxy_upstream_retries")
        .description("upstream requests retried, by reason").tag("upstream", upstream).tag("reason", reason)
        .register(registry).increment();
  }

  /** A blocking upstream call, as {@link #upstreamTook} measures it. */
  public interface UpstreamCall<T> {
    T call() throws java.io.IOException;
  }

  /** Runs {@code call}, recording its time and outcome under {@code type} and {@code method}. */
  public <T> T timed(String type, String method, UpstreamCall<T> call) throws java.io.IOException {
    long started = System.nanoTime();
    boolean ok = false;
    try {
      T result = call.call();
      ok = true;
      return result;
    } finally {
      upstreamTook(type, method, ok, System.nanoTime() - started);
    }
  }

  public void squashTook(Duration d) {
    squashDuration.record(d);
  }

  private void counter(String name, String description, LongAdder adder) {
    FunctionCounter.builder(name, adder, LongAdder::doubleValue).description(description).register(registry);
  }

  private void bytes(String name, String description, LongAdder adder) {
    FunctionCounter.builder(name, adder, LongAdder::doubleValue).description(description).baseUnit("bytes")
        .register(registry);
  }

  private void upstream(String type, String method, LongAdder adder) {
    FunctionCounter.builder("squash_proxy_upstream_requests", adder, LongAdder::doubleValue)
        .tag("type", type).tag("method", method).description("requests sent to upstream registries")
        .register(registry);
  }
}
