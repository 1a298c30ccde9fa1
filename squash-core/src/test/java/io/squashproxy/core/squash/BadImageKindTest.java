package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Which failures mean "broken" and which "valid but not squashed" ({@link SquashException#unsupported()}): a
 * proxy refuses the first and passes the second through, so each kind of bad layer is pinned here, one row
 * each, with the layer and entry the error names. Hostile but valid layers (symlinks out of the root) squash,
 * the links kept as data; a decompression bomb stops at the limit without spooling past it.
 */
class BadImageKindTest {
  @TempDir(factory = FastTempDirs.class)
  Path work;

  static final LayerBuilder BASE = layer().dir("etc").file("etc/os-release", "ID=test").file("bin/sh", "elf");

  /** One bad layer (index 1 of three): whether it is unsupported, and the entry the error must name. */
  record Row(String name, TestImage image, boolean unsupported, String entry) {
    @Override
    public String toString() {
      return name;
    }
  }

  static TestImage second(LayerBuilder l) {
    return TestImage.oci().layer(BASE).layer(l).layer(layer().file("z", "z")).build();
  }

  static TestImage secondRaw(byte[] tar, byte[] blob, String mediaType) {
    return TestImage.oci().layer(BASE).rawLayer(tar, blob, mediaType).layer(layer().file("z", "z")).build();
  }

  static Stream<Row> rows() {
    byte[] tar = layer().file("data/a", "a".repeat(5000)).file("data/b", new byte[70_000]).tar();
    byte[] gz = Blobs.gzip(tar);
    byte[] flipped = gz.clone();
    flipped[gz.length / 2] ^= 0x40;
    // The fuzzer's find: a uid of -2^49 in GNU base-256 was accepted, then written back as a PAX record no
    // reader takes.
    byte[] negativeUid = layer().file("f", "x").tar();
    byte[] minus = {(byte) 0xff, (byte) 0xfe, 0, 0, 0, 0, 0, 0};
    System.arraycopy(minus, 0, negativeUid, 108, 8);
    LayerMergeFuzzTest.fixChecksum(negativeUid, 0);
    TarEntry sparse = new TarEntry("sparse", TarType.GNU_SPARSE, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null);
    TarEntry contiguous = new TarEntry("odd", (byte) 'X', 0644, 0, 0, 0, 0, "", "", "", 0, 0, null);
    return Stream.of(
        new Row("truncated gzip", secondRaw(tar, Arrays.copyOf(gz, gz.length - 100), MediaTypes.OCI_LAYER_GZIP), false,
            null),
        new Row("flipped gzip byte", secondRaw(tar, flipped, MediaTypes.OCI_LAYER_GZIP), false, null),
        new Row("../ name", second(layer().file("../../x", "x")), false, "../../x"),
        new Row("absolute name", second(layer().file("/etc/shadow", "x")), false, "/etc/shadow"),
        new Row("hard link climbing out", second(layer().hardlinkRaw("l", "a/../../../etc/passwd")), false, "l"),
        new Row("whiteout of ..", second(layer().file("x/.wh...", "")), false, "x/.wh..."),
        new Row("negative base-256 uid", secondRaw(negativeUid, Blobs.gzip(negativeUid), MediaTypes.OCI_LAYER_GZIP),
            false, null),
        new Row("sparse file", second(layer().entry(sparse, null)), true, null),
        new Row("unknown entry type X", second(layer().entry(contiguous, null)), true, null),
        new Row("non-distributable media type", TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
            .editManifest(m -> ((ObjectNode) m.get("layers").get(1)).put("mediaType", MediaTypes.OCI_LAYER_NONDIST_GZIP))
            .layer(layer().file("z", "z")).build(), true, null),
        new Row("docker foreign layer", TestImage.docker().layer(BASE).layer(layer().file("a", "a"))
            .editManifest(m -> ((ObjectNode) m.get("layers").get(1)).put("mediaType", MediaTypes.DOCKER_LAYER_FOREIGN))
            .layer(layer().file("z", "z")).build(), true, null));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void eachBadLayerIsNamedAndClassified(Row row) throws IOException {
    TestImage img = row.image();
    SquashException e = assertThrows(SquashException.class,
        () -> new Squasher().squash(img.manifest(), img.blobs(), SquashOptions.DEFAULT, work));
    assertEquals(row.unsupported(), e.unsupported(), e.getMessage());
    assertEquals(img.layerDigests().get(1), e.layer(), e.getMessage());
    assertTrue(e.getMessage().startsWith("layer 1 (" + img.layerDigests().get(1) + ")"), e.getMessage());
    if (row.entry() != null) {
      assertEquals(row.entry(), e.entry(), e.getMessage());
      assertTrue(e.getMessage().contains("'" + row.entry() + "'"), e.getMessage());
    }
    assertFalse(e.getMessage().contains("Exception"), "a class name instead of a reason: " + e.getMessage());
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  @Test
  void symlinksPointingOutOfTheRootAreKeptAsDataAndNeverFollowed() throws IOException {
    TestImage img = TestImage.oci().layer(BASE)
        .layer(layer().symlink("etc/passwd", "/etc/passwd").symlink("up", "../../../../etc/shadow").dir("d")
            .symlink("d/loop", "../d/loop"))
        .layer(layer().file("up/x", "through the link?").file("etc/passwd/inside", "no"))
        .build();
    // Files under a symlink are entries of their own (tar does not follow links); only a directory can hold
    // children, so a file below a symlink is refused as an entry under a non-directory.
    SquashException e = assertThrows(SquashException.class,
        () -> new Squasher().squash(img.manifest(), img.blobs(), SquashOptions.DEFAULT, work));
    assertFalse(e.unsupported(), e.getMessage());
    assertEquals(List.of(), Squashing.leftovers(work));

    TestImage plain = TestImage.oci().layer(BASE)
        .layer(layer().symlink("etc/passwd", "/etc/passwd").symlink("up", "../../../../etc/shadow").dir("d")
            .symlink("d/loop", "../d/loop"))
        .layer(layer().file("z", "z"))
        .build();
    long passwd = Files.size(Path.of("/etc/passwd"));
    Squashing.Squashed s = Squashing.squash(plain, work);
    Map<String, String> links = new HashMap<>();
    try (TarReader r = new TarReader(new ByteArrayInputStream(s.layerTar()))) {
      for (TarEntry t = r.next(); t != null; t = r.next()) {
        if (t.type() == TarType.SYMLINK) {
          links.put(t.name(), t.linkName());
        }
      }
    }
    assertEquals(Map.of("etc/passwd", "/etc/passwd", "up", "../../../../etc/shadow", "d/loop", "../d/loop"), links);
    assertEquals(passwd, Files.size(Path.of("/etc/passwd")));
    try (Stream<Path> w = Files.walk(work)) {
      assertEquals(List.of(), w.filter(Files::isSymbolicLink).toList(), "a link made on disk");
    }
  }

  @Test
  void aDecompressionBombStopsAtTheLimitWithoutSpoolingPastIt() throws IOException {
    long limit = 1 << 20;
    byte[] bomb = layer().file("zeros", new byte[32 << 20]).tar();
    TestImage img = secondRaw(bomb, Blobs.gzip(bomb), MediaTypes.OCI_LAYER_GZIP);
    long[] peak = {0};
    BlobSource watched = d -> new FilterInputStream(img.blobs().open(d)) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        peak[0] = Math.max(peak[0], spooled());
        return super.read(b, off, len);
      }
    };
    SquashException e = assertThrows(SquashException.class, () -> new Squasher().squash(img.manifest(), watched,
        new SquashOptions(0, Compression.GZIP, limit), work));
    assertTrue(e.unsupported(), e.getMessage());
    assertTrue(e.getMessage().contains("limit"), e.getMessage());
    assertEquals(img.layerDigests().get(1), e.layer());
    assertTrue(peak[0] <= limit + (1 << 17), "spooled " + peak[0] + " bytes for a limit of " + limit);
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  private long spooled() throws IOException {
    long sum = 0;
    for (Path p : Squashing.leftovers(work)) {
      try {
        sum += Files.size(p);
      } catch (java.nio.file.NoSuchFileException gone) {
        // removed while we looked
      }
    }
    return sum;
  }

  @Test
  void manifestSizesThatCannotBeTrueAreRefused() {
    TestImage img = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    for (Object size : List.of(-1, -9_223_372_036_854_775_807L, new java.math.BigInteger("18446744073709551616"), 1.5,
        "12")) {
      ObjectNode m = img.manifestJson().deepCopy();
      ObjectNode l = (ObjectNode) m.get("layers").get(1);
      if (size instanceof Integer i) {
        l.put("size", i);
      } else if (size instanceof Long v) {
        l.put("size", v);
      } else if (size instanceof java.math.BigInteger b) {
        l.put("size", b);
      } else if (size instanceof Double d) {
        l.put("size", d);
      } else {
        l.put("size", (String) size);
      }
      byte[] bytes = m.toString().getBytes(StandardCharsets.UTF_8);
      InvalidImageException e = assertThrows(InvalidImageException.class,
          () -> new Squasher().squash(bytes, img.blobs(), SquashOptions.DEFAULT, work), String.valueOf(size));
      assertTrue(e.getMessage().contains("layer 1") && e.getMessage().contains("size"), e.getMessage());
    }
    // A size that fits but lies: found when the blob ends before it, naming the layer.
    ObjectNode m = img.manifestJson().deepCopy();
    ((ObjectNode) m.get("layers").get(1)).put("size", Long.MAX_VALUE);
    byte[] huge = m.toString().getBytes(StandardCharsets.UTF_8);
    SquashException e = assertThrows(SquashException.class,
        () -> new Squasher().squash(huge, img.blobs(), SquashOptions.DEFAULT, work));
    assertFalse(e.unsupported());
    assertEquals(img.layerDigests().get(1), e.layer());
  }

}
