package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The squash-on-pull contract of issue 3, against an in-memory upstream. */
class SquashOnPullTest {
  @TempDir
  Path dir;

  static TestImage threeLayers(boolean docker) {
    TestImage.Builder b = docker ? TestImage.docker() : TestImage.oci();
    return b.layer(LayerBuilder.layer().dir("etc").file("etc/os-release", "ID=test\n"))
        .layer(LayerBuilder.layer().dir("tmp").file("tmp/big", new byte[200_000]))
        .layer(LayerBuilder.layer().whiteout("tmp/big").file("app", "#!/bin/sh\n"))
        .build();
  }

  @Test
  void pullByTagServesTheSquashedImageUnderItsOwnDigest() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = threeLayers(true);
    Digest original = up.push("library/app", "1.0", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      ServedManifest m = h.service.manifest(h.route("app"), "1.0").join();
      assertNotEquals(original, m.digest());
      assertEquals(Digest.sha256(m.bytes()), m.digest());
      assertEquals(MediaTypes.DOCKER_MANIFEST, m.mediaType());
      ImageManifest parsed = ImageManifest.parse(m.bytes());
      assertEquals(1, parsed.layers().size());
      assertEquals(MediaTypes.DOCKER_LAYER_GZIP, parsed.layers().get(0).mediaType());
      // Every blob it names is served, with the right bytes.
      for (var d : List.of(parsed.config(), parsed.layers().get(0))) {
        var blob = h.service.blob(h.route("app"), d.digest()).join();
        assertEquals(d.size(), blob.size());
        assertEquals(d.digest(), Digest.sha256(Files.readAllBytes(blob.path())));
      }
      // docker's follow-up pull by digest hits the cache: no upstream traffic at all.
      int gets = up.totalBlobGets();
      int manifestGets = up.manifestGets.get();
      ServedManifest again = h.service.manifest(h.route("app"), m.digest().toString()).join();
      assertArrayEquals(m.bytes(), again.bytes());
      assertEquals(gets, up.totalBlobGets());
      assertEquals(manifestGets, up.manifestGets.get());
      assertEquals(1, h.stats.squashes.sum());
    }
  }

  @Test
  void pullByOriginalDigestPassesTheOriginalThroughByteExact() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = threeLayers(false);
    Digest original = up.push("team/app", "v1", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      ServedManifest m = h.service.manifest(h.route("team/app"), original.toString()).join();
      assertArrayEquals(img.manifest(), m.bytes());
      assertEquals(original, m.digest());
      assertEquals(0, h.stats.squashes.sum());
      // and its original layers are served too
      var layer = h.service.blob(h.route("team/app"), img.layerDigests().get(1)).join();
      assertArrayEquals(img.layerBlobs().get(1), Files.readAllBytes(layer.path()));
    }
  }

  @Test
  void concurrentColdPullsCauseOneSquashAndOneUpstreamGetPerBlob() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = threeLayers(true);
    up.push("library/app", "latest", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      CountDownLatch start = new CountDownLatch(1);
      List<CompletableFuture<ServedManifest>> pulls = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        pulls.add(CompletableFuture.supplyAsync(() -> {
          try {
            start.await();
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
          return h.service.manifest(h.route("app"), "latest").join();
        }));
      }
      start.countDown();
      Digest first = pulls.get(0).join().digest();
      for (var p : pulls) {
        assertEquals(first, p.join().digest());
      }
      assertEquals(1, h.stats.squashes.sum());
      assertEquals(1, up.manifestHeads.get(), "one upstream HEAD for the tag");
      assertEquals(1, up.manifestGets.get(), "one upstream GET for the manifest (Docker Hub counts it)");
      assertEquals(1, up.blobGets(img.configDigest()));
      for (Digest d : img.layerDigests()) {
        assertEquals(1, up.blobGets(d), "one upstream GET for " + d);
      }
    }
  }

  @Test
  void keepRuleKeepsTheBaseLayersAndSquashesTheRest() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = threeLayers(false);
    up.push("team/app", "v1", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), ProxyHarness.keep(1), 1L << 40)) {
      ImageManifest m = ImageManifest.parse(h.service.manifest(h.route("team/app"), "v1").join().bytes());
      assertEquals(2, m.layers().size());
      assertEquals(img.layerDigests().get(0), m.layers().get(0).digest());
    }
  }

  @Test
  void indexEntriesOfSelectedPlatformsPointAtSquashedManifestsOthersPassThrough() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage amd = threeLayers(false);
    TestImage arm = TestImage.oci().layer(LayerBuilder.layer().file("a", "1"))
        .layer(LayerBuilder.layer().file("b", "2")).build();
    Digest amdDigest = up.push("team/app", null, amd);
    Digest armDigest = up.push("team/app", null, arm);
    byte[] attestation = ImageJson.write(ImageJson.MAPPER.createObjectNode().put("schemaVersion", 2));
    ObjectNode index = ImageJson.MAPPER.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", MediaTypes.OCI_INDEX);
    var arr = index.putArray("manifests");
    arr.add(entry(amdDigest, amd.manifest().length, "linux", "amd64"));
    arr.add(entry(armDigest, arm.manifest().length, "linux", "arm64"));
    ObjectNode att = entry(Digest.sha256(attestation), attestation.length, "unknown", "unknown");
    att.putObject("annotations").put("vnd.docker.reference.digest", amdDigest.toString());
    arr.add(att);
    index.putObject("annotations").put("org.example", "kept");
    Digest indexDigest = up.pushManifest("team/app", "multi", ImageJson.write(index), MediaTypes.OCI_INDEX);

    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      ServedManifest m = h.service.manifest(h.route("team/app"), "multi").join();
      assertNotEquals(indexDigest, m.digest());
      ImageIndex out = ImageIndex.parse(m.bytes());
      assertEquals("kept", out.json().path("annotations").path("org.example").asText());
      assertEquals(3, out.manifests().size());
      assertNotEquals(amdDigest, out.manifests().get(0).digest());
      assertNotEquals(armDigest, out.manifests().get(1).digest());
      assertEquals(Digest.sha256(attestation), out.manifests().get(2).digest(), "attestations pass through");
      for (int i = 0; i < 2; i++) {
        var d = out.manifests().get(i);
        assertEquals(i == 0 ? "amd64" : "arm64", d.json().path("platform").path("architecture").asText());
        ServedManifest child = h.service.manifest(h.route("team/app"), d.digest().toString()).join();
        assertEquals(d.size(), child.bytes().length);
        assertEquals(1, ImageManifest.parse(child.bytes()).layers().size());
      }
    }
  }

  private static ObjectNode entry(Digest d, long size, String os, String arch) {
    ObjectNode e = ImageJson.MAPPER.createObjectNode();
    e.put("mediaType", MediaTypes.OCI_MANIFEST);
    e.put("digest", d.toString());
    e.put("size", size);
    e.putObject("platform").put("os", os).put("architecture", arch);
    return e;
  }

  @Test
  void artifactsThatAreNotImagesPassThrough() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    byte[] chartConfig = "{}".getBytes();
    up.putBlob(chartConfig);
    ObjectNode m = ImageJson.MAPPER.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.putObject("config").put("mediaType", "application/vnd.cncf.helm.config.v1+json")
        .put("digest", Digest.sha256(chartConfig).toString()).put("size", chartConfig.length);
    m.putArray("layers");
    byte[] bytes = ImageJson.write(m);
    Digest d = up.pushManifest("charts/app", "1.0", bytes, MediaTypes.OCI_MANIFEST);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      ServedManifest served = h.service.manifest(h.route("charts/app"), "1.0").join();
      assertEquals(d, served.digest());
      assertArrayEquals(bytes, served.bytes());
    }
  }

  @Test
  void cachedTagIsServedStaleWhenUpstreamIsDownAndUncachedOnesFailFast() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", threeLayers(true));
    up.push("library/other", "1.0", threeLayers(false));
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      ServedManifest fresh = h.service.manifest(h.route("app"), "1.0").join();
      assertFalse(fresh.stale());
      h.advance(Duration.ofMinutes(10)); // past the tag TTL: the next pull revalidates upstream
      up.setDown(true);
      ServedManifest stale = h.service.manifest(h.route("app"), "1.0").join();
      assertTrue(stale.stale());
      assertEquals(fresh.digest(), stale.digest());
      CompletionException e = assertThrows(CompletionException.class,
          () -> h.service.manifest(h.route("other"), "1.0").join());
      assertTrue(e.getCause() instanceof io.squashproxy.proxy.upstream.UpstreamException);
    }
  }

  @Test
  void aRestartKeepsTheCacheAndAnEvictedSquashedBlobIsMadeAgainByteIdentical() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", threeLayers(true));
    Path cache = dir.resolve("cache");
    ServedManifest first;
    byte[] layerBytes;
    Digest layer;
    try (ProxyHarness h = new ProxyHarness(up, cache)) {
      first = h.service.manifest(h.route("app"), "1.0").join();
      layer = ImageManifest.parse(first.bytes()).layers().get(0).digest();
      layerBytes = Files.readAllBytes(h.service.blob(h.route("app"), layer).join().path());
    }
    try (ProxyHarness h = new ProxyHarness(up, cache)) {
      up.setDown(true);
      // By squashed digest: straight from disk.
      assertArrayEquals(first.bytes(), h.service.manifest(h.route("app"), first.digest().toString()).join()
          .bytes());
      assertArrayEquals(layerBytes, Files.readAllBytes(h.service.blob(h.route("app"), layer).join().path()));
      up.setDown(false);
      Files.delete(h.store.blobPath(layer)); // as if evicted
      var again = h.service.blob(h.route("app"), layer).join();
      assertArrayEquals(layerBytes, Files.readAllBytes(again.path()));
    }
  }

  @Test
  void unknownTagsAndBlobsAreTheSpecsErrors() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      CompletionException e = assertThrows(CompletionException.class,
          () -> h.service.manifest(h.route("app"), "nope").join());
      assertEquals(ErrorCode.MANIFEST_UNKNOWN, ((RegistryException) e.getCause()).code());
      CompletionException b = assertThrows(CompletionException.class,
          () -> h.service.blob(h.route("app"), Digest.sha256(new byte[] {1})).join());
      assertEquals(ErrorCode.BLOB_UNKNOWN, ((RegistryException) b.getCause()).code());
    }
  }
}
