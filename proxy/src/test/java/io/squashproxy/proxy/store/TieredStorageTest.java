package io.squashproxy.proxy.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.ServedManifest;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.s3.S3ObjectStore;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.InProcessS3;
import io.squashproxy.proxy.testing.ProxyHarness;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Replicas sharing one bucket (s3proxy in this JVM) through {@link TieredStorage}. */
class TieredStorageTest {
  @TempDir
  static Path dir;
  static InProcessS3 s3;
  static int prefixes;

  @BeforeAll
  static void start() throws Exception {
    s3 = InProcessS3.start(Files.createDirectories(dir.resolve("s3")), "bucket");
  }

  @AfterAll
  static void stop() throws Exception {
    s3.close();
  }

  static S3ObjectStore freshBucket() throws Exception {
    S3ObjectStore store = s3.store("bucket", "run" + (prefixes++) + "/", 5L << 20);
    store.check();
    return store;
  }

  static TestImage image() {
    return TestImage.docker()
        .layer(LayerBuilder.layer().dir("etc").file("etc/os-release", "ID=test\n"))
        .layer(LayerBuilder.layer().dir("tmp").file("tmp/big", new byte[100_000]))
        .layer(LayerBuilder.layer().whiteout("tmp/big").file("app", "#!/bin/sh\n"))
        .build();
  }

  /** One proxy replica: its own local tier, tag and record stores, over the shared bucket. */
  static final class Replica implements AutoCloseable {
    final ContentStore local;
    final TieredStorage storage;
    final ImageService service;
    final Upstreams upstreams;
    final ProxyStats stats = new ProxyStats();
    final ExecutorService io = Executors.newFixedThreadPool(8);
    final ExecutorService squash = Executors.newFixedThreadPool(2);
    final AtomicLong nanos = new AtomicLong(1_000_000_000L);

    Replica(Path cache, InMemoryRegistry up, ObjectStore shared, long localBytes) throws Exception {
      local = new ContentStore(cache, localBytes, Runnable::run);
      local.open();
      storage = new TieredStorage(local, shared);
      Ticker ticker = nanos::get;
      TagStore tags = new TagStore(cache, local.tmpDir(), Duration.ofMinutes(5), ticker, shared,
          System::currentTimeMillis);
      tags.open();
      SquashRecords records = new SquashRecords(cache, local.tmpDir(), shared);
      records.open();
      UpstreamSettings settings = new UpstreamSettings(up.name(), java.net.URI.create("http://127.0.0.1:1"),
          null, true, null, null, null, null, null);
      upstreams = new Upstreams(List.of(settings), ProxyHarness.squashAll(), s -> up);
      service = new ImageService(upstreams, storage, tags, records, SquashLeases.over(shared, Duration.ofMinutes(1)),
          io, squash, Long.MAX_VALUE, stats);
    }

    Route route(String name) {
      return upstreams.resolve(name, null);
    }

    @Override
    public void close() {
      io.shutdownNow();
      squash.shutdownNow();
    }
  }

  @Test
  void anImageSquashedByOneReplicaIsServedByAnotherWithoutSquashingOrUpstream() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", image());
    ObjectStore bucket = freshBucket();
    try (Replica a = new Replica(dir.resolve("a"), up, bucket, 1L << 30);
        Replica b = new Replica(dir.resolve("b"), up, bucket, 1L << 30)) {
      ServedManifest first = a.service.manifest(a.route("app"), "1.0").join();
      int heads = up.manifestHeads.get();
      int gets = up.manifestGets.get();
      int blobGets = up.totalBlobGets();

      ServedManifest second = b.service.manifest(b.route("app"), "1.0").join();
      assertEquals(first.digest(), second.digest(), "every replica serves the same digest");
      assertArrayEquals(first.bytes(), second.bytes());
      ImageManifest m = ImageManifest.parse(second.bytes());
      for (var d : List.of(m.config(), m.layers().get(0))) {
        StoredBlob blob = b.service.blob(b.route("app"), d.digest()).join();
        assertEquals(d.digest(), Digest.sha256(Files.readAllBytes(blob.path())));
      }
      assertEquals(1, a.stats.squashes.sum());
      assertEquals(0, b.stats.squashes.sum(), "the second replica found the published squash");
      assertEquals(heads, up.manifestHeads.get(), "the shared tag mapping was fresh: no HEAD");
      assertEquals(gets, up.manifestGets.get());
      assertEquals(blobGets, up.totalBlobGets(), "no upstream layer was fetched by the second replica");
    }
  }

  @Test
  void theEventLoopAnswerNeverReadsTheBucket() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", image());
    ObjectStore bucket = freshBucket();
    java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
    ObjectStore counted = (ObjectStore) java.lang.reflect.Proxy.newProxyInstance(
        ObjectStore.class.getClassLoader(), new Class<?>[] {ObjectStore.class}, (proxy, method, args) -> {
          if (method.getName().equals("get") || method.getName().equals("open")) {
            reads.incrementAndGet();
          }
          try {
            return method.invoke(bucket, args);
          } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
          }
        });
    try (Replica a = new Replica(dir.resolve("loop-a"), up, bucket, 1L << 30);
        Replica b = new Replica(dir.resolve("loop-b"), up, counted, 1L << 30)) {
      a.service.manifest(a.route("app"), "1.0").join(); // publishes a fresh shared tag mapping
      reads.set(0);
      // b has not seen the tag: cachedManifest runs on an event loop, so it must not go to the bucket for it.
      assertEquals(null, b.service.cachedManifest(b.route("app"), "1.0"));
      assertEquals(0, reads.get(), "cachedManifest read the shared store");
      // The regular path does read the shared mapping (and serves the published squash).
      b.service.manifest(b.route("app"), "1.0").join();
      assertTrue(reads.get() > 0);
    }
  }

  @Test
  void aReplicaWithAnEmptyDiskServesEverythingFromTheBucketWhileUpstreamIsDown() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", image());
    ObjectStore bucket = freshBucket();
    ServedManifest made;
    try (Replica a = new Replica(dir.resolve("c"), up, bucket, 1L << 30)) {
      made = a.service.manifest(a.route("app"), "1.0").join();
    }
    up.setDown(true);
    try (Replica fresh = new Replica(dir.resolve("d"), up, bucket, 1L << 30)) {
      ServedManifest m = fresh.service.manifest(fresh.route("app"), "1.0").join();
      assertEquals(made.digest(), m.digest());
      assertFalse(m.stale(), "the tag mapping another replica validated is still fresh");
      ServedManifest byDigest = fresh.service.manifest(fresh.route("app"), made.digest().toString()).join();
      assertArrayEquals(made.bytes(), byDigest.bytes());
      ImageManifest parsed = ImageManifest.parse(m.bytes());
      StoredBlob layer = fresh.service.blob(fresh.route("app"), parsed.layers().get(0).digest()).join();
      assertEquals(parsed.layers().get(0).size(), layer.size());
      assertEquals(0, fresh.stats.squashes.sum());
      assertTrue(fresh.storage.sharedReads() >= 2, "the manifest and the layer came from the bucket");
    }
  }

  @Test
  void aBlobEvictedFromTheLocalTierComesBackFromTheBucketVerified() throws Exception {
    ObjectStore bucket = freshBucket();
    ContentStore local = new ContentStore(dir.resolve("e"), 2L << 20, Runnable::run);
    local.open();
    TieredStorage tiered = new TieredStorage(local, bucket);
    byte[] data = new byte[1_500_000];
    new Random(1).nextBytes(data);
    Digest d = Digest.sha256(data);
    tiered.putBlob(d, data.length, new java.io.ByteArrayInputStream(data));
    assertTrue(local.hasBlob(d));
    Files.delete(local.blobPath(d)); // as the size cap's eviction does
    assertFalse(local.hasBlob(d));
    assertTrue(tiered.hasBlob(d), "the bucket still has it");
    StoredBlob back = tiered.blob(d).orElseThrow();
    assertArrayEquals(data, Files.readAllBytes(back.path()));

    // A corrupt object in the bucket is refused, not served.
    byte[] third = "third".getBytes();
    Digest thirdDigest = Digest.sha256(third);
    bucket.put(TieredStorage.blobKey(thirdDigest), "tampered".getBytes());
    assertThrows(UncheckedIOException.class, () -> tiered.blob(thirdDigest));
    assertFalse(local.hasBlob(thirdDigest));
    assertTrue(tiered.blob(Digest.sha256("absent".getBytes())).isEmpty());
  }
}
