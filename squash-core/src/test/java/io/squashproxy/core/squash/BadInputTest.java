package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.image.NotAnImageException;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.MemoryBlobSource;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Broken input fails with an error that names the culprit (layer index and digest, and the entry where
 * there is one) and leaves nothing behind in the work directory.
 */
class BadInputTest {
  @TempDir(factory = FastTempDirs.class)
  Path work;

  static final LayerBuilder BASE = layer().dir("etc").file("etc/os-release", "ID=test").file("bin/sh", "elf");

  /** A layer with enough content that truncation lands inside an entry. */
  static byte[] bigLayer() {
    byte[] content = new byte[200_000];
    new java.util.Random(1).nextBytes(content);
    return layer().file("data/first", "x").file("data/random.bin", content).file("data/last", "y").tar();
  }

  private SquashException squashFails(TestImage img) {
    return squashFails(img.manifest(), img.blobs());
  }

  private SquashException squashFails(byte[] manifest, BlobSource blobs) {
    SquashException e = assertThrows(SquashException.class,
        () -> new Squasher().squash(manifest, blobs, SquashOptions.DEFAULT, work));
    assertNoLeftovers();
    return e;
  }

  private <T extends IOException> T squashFailsWith(Class<T> type, TestImage img) {
    T e = assertThrows(type, () -> new Squasher().squash(img.manifest(), img.blobs(), SquashOptions.DEFAULT, work));
    assertNoLeftovers();
    return e;
  }

  private void assertNoLeftovers() {
    try {
      assertEquals(List.of(), Squashing.leftovers(work), "files left in the work dir");
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static void assertNamesLayer(SquashException e, int index, Digest digest) {
    assertTrue(e.getMessage().contains("layer " + index), e.getMessage());
    assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
    assertEquals(digest, e.layer());
  }

  private static TestImage withRawSecondLayer(byte[] tar, byte[] blob, String mediaType) {
    return TestImage.oci().layer(BASE).rawLayer(tar, blob, mediaType).layer(layer().file("z", "z")).build();
  }

  @Test
  void truncatedGzip() {
    byte[] tar = bigLayer();
    byte[] gz = Blobs.gzip(tar);
    byte[] cut = Arrays.copyOf(gz, gz.length / 2);
    TestImage img = withRawSecondLayer(tar, cut, MediaTypes.OCI_LAYER_GZIP);
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("data/random.bin", e.entry(), e.getMessage());
    assertTrue(e.getMessage().contains("data/random.bin"), e.getMessage());
  }

  @Test
  void gzipWithoutItsTrailer() {
    byte[] tar = layer().file("a", "a").tar();
    byte[] gz = Blobs.gzip(tar);
    TestImage img = withRawSecondLayer(tar, Arrays.copyOf(gz, gz.length - 4), MediaTypes.OCI_LAYER_GZIP);
    assertNamesLayer(squashFails(img), 1, img.layerDigests().get(1));
  }

  @Test
  void corruptGzip() {
    byte[] tar = bigLayer();
    byte[] gz = Blobs.gzip(tar);
    for (int i = gz.length / 3; i < gz.length / 3 + 64; i++) {
      gz[i] ^= 0x5a;
    }
    TestImage img = withRawSecondLayer(tar, gz, MediaTypes.OCI_LAYER_GZIP);
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
  }

  @Test
  void truncatedZstd() {
    byte[] tar = bigLayer();
    byte[] z = Blobs.zstd(tar);
    TestImage img = withRawSecondLayer(tar, Arrays.copyOf(z, z.length / 2), MediaTypes.OCI_LAYER_ZSTD);
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("data/random.bin", e.entry(), e.getMessage());
  }

  @Test
  void corruptZstdWithoutChecksumIsCaughtByTheDiffId() {
    byte[] tar = bigLayer();
    byte[] z = Blobs.zstd(tar);
    for (int i = z.length / 2; i < z.length / 2 + 16; i++) {
      z[i] ^= 0x21;
    }
    TestImage img = withRawSecondLayer(tar, z, MediaTypes.OCI_LAYER_ZSTD);
    assertNamesLayer(squashFails(img), 1, img.layerDigests().get(1));
  }

  @Test
  void truncatedUncompressedTar() {
    byte[] tar = bigLayer();
    TestImage img = withRawSecondLayer(tar, Arrays.copyOf(tar, 100_000), MediaTypes.OCI_LAYER_TAR);
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("data/random.bin", e.entry());
  }

  @Test
  void notATar() {
    byte[] junk = "this is not a tar archive, not even close".repeat(40).getBytes(StandardCharsets.US_ASCII);
    TestImage img = withRawSecondLayer(junk, Blobs.gzip(junk), MediaTypes.OCI_LAYER_GZIP);
    assertNamesLayer(squashFails(img), 1, img.layerDigests().get(1));
  }

  @Test
  void dotDotEscapingTheRoot() {
    TestImage img = TestImage.oci().layer(BASE)
        .layer(layer().file("ok", "fine").file("a/../../etc/passwd", "evil"))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("a/../../etc/passwd", e.entry());
    assertTrue(e.getMessage().contains("a/../../etc/passwd"), e.getMessage());
  }

  @Test
  void dotDotInAHardLinkTarget() {
    TestImage img = TestImage.oci().layer(BASE)
        .layer(layer().hardlinkRaw("x", "../../etc/shadow"))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("x", e.entry());
  }

  @Test
  void absoluteName() {
    TestImage img = TestImage.docker().layer(BASE)
        .layer(layer().file("fine", "x"))
        .layer(layer().file("/etc/passwd", "evil"))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 2, img.layerDigests().get(2));
    assertEquals("/etc/passwd", e.entry());
  }

  @Test
  void hardLinkToNothing() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().hardlinkRaw("x", "missing")).build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("x", e.entry());
  }

  @Test
  void entryUnderAFile() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("etc/os-release/inside", "x")).build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertEquals("etc/os-release/inside", e.entry());
  }

  @Test
  void blobDigestMismatch() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    Digest d = img.layerDigests().get(0);
    byte[] other = img.blobs().get(d);
    other[other.length / 2] ^= 1; // same size, different content
    MemoryBlobSource blobs = img.blobs().copy();
    blobs.put(d, other);
    SquashException e = squashFails(img.manifest(), blobs);
    assertNamesLayer(e, 0, d);
  }

  @Test
  void blobLongerThanDeclared() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
        .editManifest(m -> ((ObjectNode) m.get("layers").get(1)).put("size",
            m.get("layers").get(1).get("size").asLong() - 10))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertTrue(e.getMessage().contains("size"), e.getMessage());
  }

  @Test
  void blobShorterThanDeclared() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
        .editManifest(m -> ((ObjectNode) m.get("layers").get(0)).put("size",
            m.get("layers").get(0).get("size").asLong() + 1))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 0, img.layerDigests().get(0));
    assertTrue(e.getMessage().contains("size"), e.getMessage());
  }

  @Test
  void diffIdMismatch() {
    TestImage img = TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).diffId(Digest.sha256("something else".getBytes(StandardCharsets.UTF_8)))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
  }

  @Test
  void diffIdMismatchInAKeptLayerIsStillFound() {
    TestImage img = TestImage.oci()
        .layer(BASE).diffId(Digest.sha256("something else".getBytes(StandardCharsets.UTF_8)))
        .layer(layer().file("a", "a")).layer(layer().file("b", "b"))
        .build();
    SquashException e = assertThrows(SquashException.class, () -> new Squasher().squash(img.manifest(),
        img.blobs(), SquashOptions.DEFAULT.withKeepLayers(1), work));
    assertNamesLayer(e, 0, img.layerDigests().get(0));
    assertNoLeftovers();
  }

  @Test
  void missingBlob() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    MemoryBlobSource blobs = new MemoryBlobSource();
    blobs.put(img.blobs().get(img.configDigest()));
    blobs.put(img.blobs().get(img.layerDigests().get(0)));
    SquashException e = squashFails(img.manifest(), blobs);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
  }

  @Test
  void configDigestMismatch() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    MemoryBlobSource blobs = img.blobs().copy();
    byte[] config = img.config();
    config[config.length - 2] = ' ';
    blobs.put(img.configDigest(), config);
    InvalidImageException e = assertThrows(InvalidImageException.class,
        () -> new Squasher().squash(img.manifest(), blobs, SquashOptions.DEFAULT, work));
    assertTrue(e.getMessage().contains(img.configDigest().toString()), e.getMessage());
    assertNoLeftovers();
  }

  @Test
  void layerMediaTypeThatCannotBeSquashed() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
        .editManifest(m -> ((ObjectNode) m.get("layers").get(1)).put("mediaType",
            MediaTypes.OCI_LAYER_NONDIST_GZIP))
        .build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
  }

  @Test
  void uncompressedSizeLimit() {
    TestImage img = TestImage.oci().layer(BASE).compression(Compression.Algorithm.GZIP).layer(bigLayer()).build();
    SquashException e = assertThrows(SquashException.class, () -> new Squasher().squash(img.manifest(),
        img.blobs(), new SquashOptions(0, Compression.GZIP, 100_000), work));
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertNoLeftovers();
  }

  // ------------------------------------------------------------------------------- broken documents

  @Test
  void manifestNotJson() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    for (String bad : List.of("", "not json", "{\"schemaVersion\":2,", "[1,2]", "{} trailing")) {
      assertThrows(InvalidImageException.class, () -> new Squasher().squash(
          bad.getBytes(StandardCharsets.UTF_8), img.blobs(), SquashOptions.DEFAULT, work), bad);
    }
    assertNoLeftovers();
  }

  @Test
  void manifestWithoutLayers() {
    InvalidImageException e = squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).editManifest(m -> m.remove("layers")).build());
    assertFalse(e instanceof NotAnImageException);
    assertTrue(e.getMessage().contains("layers"), e.getMessage());
  }

  @Test
  void manifestWithoutConfig() {
    InvalidImageException e = squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).editManifest(m -> m.remove("config")).build());
    assertTrue(e.getMessage().contains("config"), e.getMessage());
  }

  @Test
  void layerDescriptorWithoutDigest() {
    InvalidImageException e = squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).editManifest(m -> ((ObjectNode) m.get("layers").get(1)).remove("digest"))
        .build());
    assertTrue(e.getMessage().contains("layer 1"), e.getMessage());
  }

  @Test
  void configWithoutRootfs() {
    InvalidImageException e = squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).editConfig(c -> c.remove("rootfs")).build());
    assertTrue(e.getMessage().contains("rootfs"), e.getMessage());
  }

  @Test
  void configWithoutDiffIds() {
    InvalidImageException e = squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE)
        .layer(layer().file("a", "a")).editConfig(c -> ((ObjectNode) c.get("rootfs")).remove("diff_ids")).build());
    assertTrue(e.getMessage().contains("diff_ids"), e.getMessage());
  }

  @Test
  void configNotJson() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    byte[] junk = "{not json".getBytes(StandardCharsets.UTF_8);
    MemoryBlobSource blobs = img.blobs().copy();
    Digest d = blobs.put(junk);
    ObjectNode m = img.manifestJson();
    ((ObjectNode) m.get("config")).put("digest", d.toString()).put("size", junk.length);
    byte[] manifest = m.toString().getBytes(StandardCharsets.UTF_8);
    assertThrows(InvalidImageException.class, () -> new Squasher().squash(manifest, blobs, SquashOptions.DEFAULT,
        work));
    assertNoLeftovers();
  }

  @Test
  void diffIdCountDiffersFromLayerCount() {
    squashFailsWith(InvalidImageException.class, TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
        .editConfig(c -> ((com.fasterxml.jackson.databind.node.ArrayNode) c.get("rootfs").get("diff_ids")).remove(0))
        .build());
  }

  @Test
  void indexIsNotAnImage() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    byte[] index = ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":[]}")
        .getBytes(StandardCharsets.UTF_8);
    assertThrows(NotAnImageException.class, () -> new Squasher().squash(index, img.blobs(), SquashOptions.DEFAULT,
        work));
    assertNoLeftovers();
  }

  @Test
  void sparseFilesAreRefused() {
    TarEntry sparse = new TarEntry("sparse", TarType.GNU_SPARSE, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null);
    TestImage img = TestImage.oci().layer(BASE).layer(layer().entry(sparse, null)).build();
    SquashException e = squashFails(img);
    assertNamesLayer(e, 1, img.layerDigests().get(1));
    assertInstanceOf(IOException.class, e.getCause());
  }
}
