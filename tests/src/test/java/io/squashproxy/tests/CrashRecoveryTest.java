package io.squashproxy.tests;

import static io.squashproxy.tests.FaultsTestSupport.MANIFEST_ACCEPT;
import static io.squashproxy.tests.FaultsTestSupport.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.ThrottledRelay;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * {@code kill -9} of the proxy in the middle of a squash and in the middle of a blob download, then a
 * restart on the same cache directory: the interrupted work is gone, every cached file is whole and what its
 * name says, and the next pull completes with the image's exact root filesystem.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CrashRecoveryTest {
  static final String REPO = "faults/crash";

  final List<AutoCloseable> closeLater = new ArrayList<>();
  Scratch work;
  DistributionRegistry registry;
  ImageBuilder image;
  Path reference;
  String bigLayer;

  @BeforeAll
  void pushImage() {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo", "umoci");
    work = Scratch.create("crash");
    closeLater.add(work);
    registry = DistributionRegistry.start();
    closeLater.add(registry);
    image = FaultsTestSupport.bigImage("crash", 24 * MIB);
    closeLater.add(image);
    Skopeo.copy(image.skopeoRef(), registry.ref(REPO + ":1"), "--format", "v2s2");
    reference = image.unpack(work.resolve("reference"));
    bigLayer = FaultsTestSupport.layerDigest(registry.ref(REPO + ":1"), 1);
  }

  @AfterAll
  void cleanUp() {
    java.util.Collections.reverse(closeLater);
    Cleanup.closeAll(closeLater);
  }

  @Test
  void killedWhileSquashing() throws Exception {
    // The squash of this image takes well under a second on a quiet machine, so the kill can land after it
    // ended; then nothing was interrupted and the attempt proves nothing: start over on a fresh cache.
    for (int attempt = 1; ; attempt++) {
      Path cache = work.resolve("cache-squash-" + attempt);
      ProxyProcess proxy = ProxyProcess.startWithCache("http://" + registry.host(), null, cache);
      try {
        CompletableFuture<?> pull = CompletableFuture.runAsync(
            () -> FaultsTestSupport.get(proxy.url() + "/v2/" + REPO + "/manifests/1", MANIFEST_ACCEPT));
        FaultsTestSupport.await("a squash in flight", Duration.ofMinutes(2),
            () -> FaultsTestSupport.metrics(proxy).contains("squash_proxy_squashes_in_flight 1.0"));
        proxy.kill();
        pull.handle((v, e) -> null).get(30, TimeUnit.SECONDS);
      } finally {
        proxy.close();
      }
      if (!isEmpty(cache.resolve("tmp"))) {
        restartAndPull(cache);
        return;
      }
      assertTrue(attempt < 5, "in 5 attempts the kill never landed while the squash's work files were in tmp/");
    }
  }

  @Test
  void killedDuringABackgroundSquash() throws Exception {
    // The shipped config (wait: 0s): the pull gets the original image at once and the squash runs on in
    // the background, pulling the layers itself; kill -9 lands while it runs (see killedWhileSquashing).
    for (int attempt = 1; ; attempt++) {
      Path cache = work.resolve("cache-background-" + attempt);
      ProxyProcess proxy = ProxyProcess.startShippedWait("http://" + registry.host(), null, cache, null);
      try {
        HttpResponse<byte[]> m = FaultsTestSupport.get(proxy.url() + "/v2/" + REPO + "/manifests/1", MANIFEST_ACCEPT);
        assertEquals(200, m.statusCode());
        assertEquals("pending", m.headers().firstValue("X-Squash-Proxy-Squash").orElse(""), "the original, at once");
        FaultsTestSupport.await("a background squash running", Duration.ofMinutes(2),
            () -> FaultsTestSupport.metrics(proxy).contains("squash_proxy_squashes_in_flight 1.0"));
        proxy.kill();
      } finally {
        proxy.close();
      }
      if (!isEmpty(cache.resolve("tmp"))) {
        restartAndPull(cache); // consistent, and the next pull squashes again
        return;
      }
      assertTrue(attempt < 5, "in 5 attempts the kill never landed while the squash's work files were in tmp/");
    }
  }

  @Test
  void killedWhileDownloadingABlob() throws Exception {
    Path cache = work.resolve("cache-download");
    try (ThrottledRelay slow = ThrottledRelay.start(registry.host(), 4 * MIB)) {
      ProxyProcess proxy = ProxyProcess.startWithCache(slow.url(), null, cache);
      try {
        CompletableFuture<?> pull = CompletableFuture.runAsync(
            () -> FaultsTestSupport.get(proxy.url() + "/v2/" + REPO + "/blobs/" + bigLayer, null));
        FaultsTestSupport.await("a few MiB of the blob in tmp/", Duration.ofMinutes(2),
            () -> tmpBytes(cache) > 3 * MIB);
        proxy.kill();
        pull.handle((v, e) -> null).get(30, TimeUnit.SECONDS);
      } finally {
        proxy.close();
      }
    }
    assertFalse(Files.exists(blobFile(cache, bigLayer)), "the blob was cut off and must not be in the cache");

    restartAndPull(cache);
    assertTrue(Files.exists(blobFile(cache, bigLayer)));
  }

  /** A new proxy on the same cache: clean, consistent, and the image pulls with its exact root filesystem. */
  private void restartAndPull(Path cache) throws IOException {
    ProxyProcess again = ProxyProcess.startWithCache("http://" + registry.host(), null, cache);
    try {
      int blobs = FaultsTestSupport.assertCacheConsistent(cache);
      assertTrue(FaultsTestSupport.metrics(again).contains("squash_proxy_cache_entries{type=\"blob\"} "
          + (double) blobs), "the index holds what is on disk (" + blobs + " blobs)");

      HttpResponse<byte[]> blob = FaultsTestSupport.get(again.url() + "/v2/" + REPO + "/blobs/" + bigLayer, null);
      assertEquals(200, blob.statusCode());
      assertEquals(bigLayer, FaultsTestSupport.sha256(blob.body()));
      Path rootfs = Skopeo.unpack(again.ref(REPO + ":1"), cache.resolveSibling(cache.getFileName() + "-pull"));
      RootfsTree.assertIdentical(reference, rootfs, RootfsTree.Options.exact());
      assertEquals(1, again.squashes(REPO).size(), again.tail());
      assertEquals(1, again.squashes(REPO).get(0).layersAfter());
      FaultsTestSupport.assertCacheConsistent(cache);
    } finally {
      again.close();
    }
  }

  private static Path blobFile(Path cache, String digest) {
    return cache.resolve("blobs/sha256/" + digest.substring("sha256:".length()));
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  private static long tmpBytes(Path cache) {
    try (Stream<Path> s = Files.walk(cache.resolve("tmp"))) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    } catch (IOException | java.io.UncheckedIOException e) {
      return 0; // not created yet, or a file went away while we looked
    }
  }
}
