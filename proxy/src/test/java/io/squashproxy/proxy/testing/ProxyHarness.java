package io.squashproxy.proxy.testing;

import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.RefusedImages;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.SquashLimits;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.LayerIndexFiles;
import io.squashproxy.proxy.store.SquashLeases;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/** An {@link ImageService} over a temp cache directory and an {@link InMemoryRegistry}, with a fake clock. */
public final class ProxyHarness implements AutoCloseable {
  public final InMemoryRegistry upstream;
  public final Path cacheDir;
  public final AtomicLong nanos = new AtomicLong(1_000_000_000L);
  public final Ticker ticker = nanos::get;
  public final ExecutorService io = Executors.newFixedThreadPool(16);
  public final ExecutorService squashPool = Executors.newFixedThreadPool(2);
  public final ContentStore store;
  public final ImageService service;
  public final Upstreams upstreams;
  public final ProxyStats stats = new ProxyStats();
  public final TagStore tags;
  public final SquashRecords records;
  public final LayerIndexFiles indexes;

  public ProxyHarness(InMemoryRegistry upstream, Path cacheDir, Rules rules, long cacheBytes) throws IOException {
    this(upstream, cacheDir, rules, cacheBytes, Long.MAX_VALUE);
  }

  /** @param maxImageSize limits.maxImageSize: uncompressed bytes over which an image is not squashed */
  public ProxyHarness(InMemoryRegistry upstream, Path cacheDir, Rules rules, long cacheBytes, long maxImageSize)
      throws IOException {
    this(upstream, cacheDir, rules, cacheBytes, SquashLimits.ofSize(maxImageSize), null);
  }

  /** @param limits limits.maxImageSize and limits.maxPathsPerSquash */
  public ProxyHarness(InMemoryRegistry upstream, Path cacheDir, Rules rules, long cacheBytes, SquashLimits limits)
      throws IOException {
    this(upstream, cacheDir, rules, cacheBytes, limits, null);
  }

  /** @param squashWorkers runs the squashes (a {@link ManualExecutor} to hold them queued); null for a pool */
  public ProxyHarness(InMemoryRegistry upstream, Path cacheDir, Rules rules, java.util.concurrent.Executor squashWorkers)
      throws IOException {
    this(upstream, cacheDir, rules, 1L << 40, SquashLimits.ofSize(Long.MAX_VALUE), squashWorkers);
  }

  private ProxyHarness(InMemoryRegistry upstream, Path cacheDir, Rules rules, long cacheBytes, SquashLimits limits,
      java.util.concurrent.Executor squashWorkers) throws IOException {
    this.upstream = upstream;
    this.cacheDir = cacheDir;
    this.store = new ContentStore(cacheDir, cacheBytes, Runnable::run);
    store.open();
    this.tags = new TagStore(cacheDir, store.tmpDir(), Duration.ofMinutes(5), ticker);
    tags.open();
    this.records = new SquashRecords(cacheDir, store.tmpDir());
    records.open();
    this.indexes = new LayerIndexFiles(cacheDir, store.tmpDir(), 1L << 30, Runnable::run).open();
    store.onEvicted(indexes::layerEvicted);
    // Docker Hub rules (library/ before one-component names), so tests read like docker pulls.
    UpstreamSettings settings = new UpstreamSettings(upstream.name(), java.net.URI.create("http://127.0.0.1:1"),
        null, true, null, null, null, null, null);
    this.upstreams = new Upstreams(List.of(settings), rules, s -> upstream);
    this.service = new ImageService(upstreams, store, tags, records, SquashLeases.none(), indexes, io,
        squashWorkers != null ? squashWorkers : squashPool, limits, stats, new RefusedImages(ticker));
  }

  public ProxyHarness(InMemoryRegistry upstream, Path cacheDir) throws IOException {
    this(upstream, cacheDir, squashAll(), 1L << 40);
  }

  /**
   * The {@code wait} of the harness's rules: long, so the first pull of an image gets its squash and a test
   * about what a squash makes pulls once. Tests of the first pull without waiting set their own.
   */
  public static final Duration WAIT = Duration.ofMinutes(10);

  /** Every image squashed to one layer, the first pull waiting for it. */
  public static Rules squashAll() {
    return new Rules(List.of(SquashRule.all("**").withWait(WAIT)));
  }

  /** {@code mode: auto} with this slack for every repository. */
  public static Rules auto(io.squashproxy.core.squash.WasteSlack slack) {
    return new Rules(List.of(new SquashRule("**", SquashRule.Mode.AUTO, 0, null, Compression.GZIP, List.of(),
        slack, WAIT)));
  }

  public static Rules keep(int n) {
    return new Rules(List.of(new SquashRule("**", SquashRule.Mode.KEEP, n, null, Compression.GZIP, List.of(),
        null, WAIT)));
  }

  public Route route(String name) {
    return upstreams.resolve(name, null);
  }

  public void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  @Override
  public void close() {
    io.shutdownNow();
    squashPool.shutdownNow();
    // Work still running writes into the cache directory: it must end before the test's TempDir is deleted.
    try {
      io.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
      squashPool.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
