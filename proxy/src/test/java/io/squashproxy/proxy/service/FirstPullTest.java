package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ManualExecutor;
import io.squashproxy.proxy.testing.ProxyHarness;
import io.squashproxy.proxy.testing.Trickle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #13 item 2: a pull of an image not squashed yet waits at most the rule's {@code wait}; past it the
 * client gets the original image and the squash goes on in the background, from the same downloads. The
 * squash pool is a {@link ManualExecutor}, so "still queued" and "finished" are states the test sets.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FirstPullTest {
  @TempDir Path dir;

  private static TestImage image() {
    return TestImage.docker()
        .layer(LayerBuilder.layer().dir("etc").file("etc/os-release", "ID=test\n"))
        .layer(LayerBuilder.layer().dir("tmp").file("tmp/big", new byte[200_000]))
        .layer(LayerBuilder.layer().whiteout("tmp/big").file("app", "#!/bin/sh\n"))
        .build();
  }

  private static Rules waiting(Duration wait) {
    return new Rules(List.of(SquashRule.all("**").withWait(wait)));
  }

  /** The root file system a client unpacks from these layer blobs. */
  private static RefFs.View rootfs(ProxyHarness h, Route route, List<Descriptor> layers) throws Exception {
    List<byte[]> tars = new ArrayList<>();
    for (Descriptor l : layers) {
      tars.add(Blobs.decompress(Files.readAllBytes(h.service.blob(route, l.digest()).join().path())));
    }
    return RefFs.of(tars).view();
  }

  @Test
  void withNoWaitTheFirstPullGetsTheOriginalAndTheNextTheSquashedImageWithTheSameRootfs() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = image();
    Digest original = up.push("library/app", "1.0", img);
    ManualExecutor squashPool = new ManualExecutor();
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), waiting(Duration.ZERO), squashPool)) {
      Route route = h.route("app");
      ServedManifest first = h.service.manifest(route, "1.0").join();
      assertEquals(original, first.digest(), "the original digest");
      assertArrayEquals(img.manifest(), first.bytes(), "byte-exact");
      assertTrue(first.squashPending());
      BackgroundSquashes bg = h.service.backgroundSquashes();
      assertEquals(1, bg.queued(), "the squash waits for a worker");
      assertEquals(0, bg.finished());
      // The client pulls the original blobs while the squash has not run yet.
      List<Descriptor> originalLayers = ImageManifest.parse(first.bytes()).layers();
      RefFs.View before = rootfs(h, route, originalLayers);
      h.service.blob(route, img.configDigest()).join();

      squashPool.runNext(); // the background squash, from the blobs the client's pull brought in
      assertEquals(0, bg.queued());
      assertEquals(1, bg.finished());
      assertEquals(1, h.stats.squashes.sum());
      assertTrue(bg.entries().get(0).outcome().startsWith("squashed"), bg.entries().toString());

      ServedManifest next = h.service.manifest(route, "1.0").join();
      assertNotEquals(original, next.digest(), "squashed");
      assertFalse(next.squashPending());
      List<Descriptor> squashedLayers = ImageManifest.parse(next.bytes()).layers();
      assertEquals(1, squashedLayers.size());
      assertEquals("", before.diff(rootfs(h, route, squashedLayers)), "the same root file system");
      for (Digest d : img.layerDigests()) {
        assertEquals(1, up.blobGets(d), "no second upstream request for " + d);
      }
      assertEquals(1, up.blobGets(img.configDigest()));
      // Remembered for the hot path now, and only now.
      assertEquals(next.digest(), h.service.cachedManifest(route, "1.0").digest());
    }
  }

  @Test
  void theOriginalIsNeverRememberedAsTheTagsAnswer() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", image());
    ManualExecutor squashPool = new ManualExecutor();
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), waiting(Duration.ZERO), squashPool)) {
      Route route = h.route("app");
      assertTrue(h.service.manifest(route, "1.0").join().squashPending());
      assertEquals(null, h.service.cachedManifest(route, "1.0"), "a pending answer is for one pull only");
      assertTrue(h.service.manifest(route, "1.0").join().squashPending(), "still squashing: the original again");
      squashPool.runNext();
      assertFalse(h.service.manifest(route, "1.0").join().squashPending());
    }
  }

  @Test
  void theBackgroundSquashJoinsTheDownloadTheClientStarted() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = image();
    up.push("library/app", "1.0", img);
    Digest big = img.layerDigests().get(1);
    byte[] bigBlob = img.layerBlobs().get(1);
    Trickle trickle = new Trickle(bigBlob, 10);
    up.blobBody(big, bigBlob.length, () -> trickle);
    ManualExecutor squashPool = new ManualExecutor();
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), waiting(Duration.ZERO), squashPool)) {
      Route route = h.route("app");
      assertTrue(h.service.manifest(route, "1.0").join().squashPending());
      ServedBlob streaming = h.service.serveBlob(route, big).join(); // the client's download, held back
      assertTrue(streaming.growing() != null, "streamed from the download in flight");
      CompletableFuture<Void> squash = CompletableFuture.runAsync(() -> {
        try {
          squashPool.runNext();
        } catch (InterruptedException e) {
          throw new RuntimeException(e);
        }
      });
      trickle.allow(bigBlob.length);
      squash.join();
      assertEquals(1, h.stats.squashes.sum());
      assertEquals(1, up.blobGets(big), "the squash read the client's download, not a second one");
      assertArrayEquals(bigBlob, Files.readAllBytes(streaming.growing().done().join().path()));
    }
  }

  @Test
  void withALongWaitTheFirstPullIsSquashed() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    Digest original = up.push("library/app", "1.0", image());
    ManualExecutor squashPool = new ManualExecutor();
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), waiting(Duration.ofMinutes(10)), squashPool)) {
      CompletableFuture<ServedManifest> first = h.service.manifest(h.route("app"), "1.0");
      squashPool.runNext();
      ServedManifest m = first.join();
      assertNotEquals(original, m.digest());
      assertFalse(m.squashPending());
      assertEquals(0, h.service.backgroundSquashes().finished(), "a client waited for it: not background");
    }
  }

  @Test
  void aSquashMadeBeforeARestartIsServedAtOnceEvenWithNoWait() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    Digest original = up.push("library/app", "1.0", image());
    Path cache = dir.resolve("cache");
    Digest squashed;
    try (ProxyHarness h = new ProxyHarness(up, cache)) {
      squashed = h.service.manifest(h.route("app"), "1.0").join().digest();
    }
    assertNotEquals(original, squashed);
    ManualExecutor squashPool = new ManualExecutor();
    try (ProxyHarness h = new ProxyHarness(up, cache, waiting(Duration.ZERO), squashPool)) {
      ServedManifest m = h.service.manifest(h.route("app"), "1.0").join();
      assertEquals(squashed, m.digest(), "found by its squash record, with no squash worker");
      assertEquals(0, squashPool.queued());
    }
  }
}
