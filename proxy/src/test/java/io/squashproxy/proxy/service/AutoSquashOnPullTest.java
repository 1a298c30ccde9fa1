package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.squash.LayerIndex;
import io.squashproxy.core.squash.WasteSlack;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mode: auto} through the image service: what stays shared, what is left whole, and the layer index. */
class AutoSquashOnPullTest {
  private static final WasteSlack SLACK = new WasteSlack(1000, 1);

  @TempDir
  Path dir;

  private static final LayerBuilder BASE = LayerBuilder.layer().dir("usr").file("usr/lib", new byte[50_000])
      .file("etc/os-release", "ID=test\n");

  /** An app on the shared base that builds in /tmp and deletes it in its top layer. */
  private static TestImage app(String name) {
    return TestImage.docker().layer(BASE)
        .layer(LayerBuilder.layer().file("app/" + name, name))
        .layer(LayerBuilder.layer().file("tmp/build-" + name, new byte[80_000]))
        .layer(LayerBuilder.layer().whiteout("tmp"))
        .build();
  }

  @Test
  void anImageThatWastesNothingIsServedByteExactAndTheDecisionIsRemembered() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = TestImage.oci().layer(BASE).layer(LayerBuilder.layer().file("app", "x")).build();
    Digest original = up.push("team/app", "v1", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.auto(SLACK), 1L << 40)) {
      ServedManifest m = h.service.manifest(h.route("team/app"), "v1").join();
      assertEquals(original, m.digest());
      assertArrayEquals(img.manifest(), m.bytes());
      SquashRecord r = h.records.all().get(0);
      assertTrue(r.unchanged());
      assertEquals(2, r.keptLayers());
      assertEquals(0, r.wastedBytes());
      try (var cached = Files.list(h.cacheDir.resolve("blobs/sha256"))) {
        assertEquals(3, cached.count(), "config and two original layers; no rewritten copy");
      }
    }
    // After a restart the decision is read back: nothing is fetched to make it again.
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.auto(SLACK), 1L << 40)) {
      int blobGets = up.totalBlobGets();
      ServedManifest m = h.service.manifest(h.route("team/app"), "v1").join();
      assertEquals(original, m.digest());
      assertEquals(blobGets, up.totalBlobGets());
    }
  }

  @Test
  void appsOnOneBaseKeepTheBaseLayerAndReadItOnce() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage one = app("one");
    TestImage two = app("two");
    up.push("team/one", "v1", one);
    Digest twoDigest = up.push("team/two", "v1", two);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.auto(SLACK), 1L << 40)) {
      ImageManifest first = ImageManifest.parse(h.service.manifest(h.route("team/one"), "v1").join().bytes());
      long missesAfterFirst = h.indexes.misses();
      ImageManifest second = ImageManifest.parse(h.service.manifest(h.route("team/two"), "v1").join().bytes());
      // Base and app layer kept (nothing above hides them), the wasteful build layer and its deletion squashed.
      assertEquals(3, first.layers().size());
      assertEquals(3, second.layers().size());
      assertEquals(one.layerDigests().get(0), first.layers().get(0).digest());
      assertEquals(first.layers().get(0).digest(), second.layers().get(0).digest(), "the base stays shared");
      assertEquals(two.layerDigests().get(1), second.layers().get(1).digest());
      assertNotEquals(two.layerDigests().get(2), second.layers().get(2).digest());
      // The second image found the indexes of the layers it shares with the first (the base, and the identical
      // layer that deletes /tmp): it read only its own two.
      assertEquals(2, h.indexes.misses() - missesAfterFirst, "layers indexed for the second image");
      assertTrue(h.indexes.hits() >= 2, "the shared layers came from their indexes");
      SquashRecord r = h.records.all().stream().filter(x -> x.source().equals(twoDigest)).findFirst().orElseThrow();
      assertEquals(2, r.keptLayers());
      assertEquals(80_000, r.wastedBytes());
    }
  }

  @Test
  void aDamagedLayerIndexIsRebuiltNotTrusted() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage one = app("one");
    up.push("team/one", "v1", one);
    up.push("team/two", "v1", app("two"));
    Digest base = one.layerDigests().get(0);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.auto(SLACK), 1L << 40)) {
      h.service.manifest(h.route("team/one"), "v1").join();
      Path index = h.cacheDir.resolve("indexes/sha256/" + base.hex());
      byte[] good = Files.readAllBytes(index);
      byte[] bad = good.clone();
      bad[bad.length / 2] ^= 0x40;
      Files.write(index, bad);
      ImageManifest second = ImageManifest.parse(h.service.manifest(h.route("team/two"), "v1").join().bytes());
      assertEquals(base, second.layers().get(0).digest());
      assertEquals(LayerIndex.fromBytes(good, base), LayerIndex.fromBytes(Files.readAllBytes(index), base),
          "the base was read again and its index written anew");
    }
  }

  @Test
  void anEvictedLayerTakesItsIndexAlong() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage one = app("one");
    up.push("team/one", "v1", one);
    // A cache that holds one image: pulling the next evicts the first one's layers.
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.auto(SLACK), 300_000)) {
      h.service.manifest(h.route("team/one"), "v1").join();
      Path index = h.cacheDir.resolve("indexes/sha256/" + one.layerDigests().get(2).hex());
      assertTrue(Files.exists(index));
      for (int i = 0; i < 4; i++) {
        TestImage big = TestImage.oci().layer(LayerBuilder.layer().file("f", randomBytes(120_000, i))).build();
        up.push("team/big" + i, "v1", big);
        h.service.manifest(h.route("team/big" + i), "v1").join();
      }
      h.store.cleanUp();
      assertTrue(h.store.blob(one.layerDigests().get(2)).isEmpty(), "the layer was evicted");
      assertTrue(Files.notExists(index), "and its index with it");
    }
  }

  private static byte[] randomBytes(int n, long seed) {
    byte[] b = new byte[n];
    new java.util.Random(seed).nextBytes(b);
    return b;
  }
}
