package io.squashproxy.core.estargz;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.squash.SquashListener;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Squashed layers written as eStargz: what the snapshotter reads, and what every other client reads. */
class EstargzSquashTest {
  private static final int CHUNK = 1000;
  private static final Compression ESTARGZ = Compression.parse("estargz:6:" + CHUNK);
  static final byte[] CAPABILITY = {1, 0, 0, 2, 0x20, 0, 0, 0, (byte) 0xff, (byte) 0xc3, 0x28, 0, 0, 0, 0, 0,
      0, 0, 0, 0};

  @TempDir(factory = FastTempDirs.class)
  Path work;

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    java.util.Random r = new java.util.Random(seed);
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (r.nextInt(16) + 'a'); // compressible but not trivially
    }
    return b;
  }

  static TestImage image() {
    return TestImage.oci()
        .layer(layer().dir("etc").file("etc/passwd", "root:x:0:0").mode(0600).owner(1000, 42).names("alice", "shadow")
            .dir("usr").dir("usr/bin").file("usr/bin/tool", bytes(2500, 1)).mode(04755)
            .xattr("security.capability", CAPABILITY).xattr("user.note", "<&>")
            .file("tmp/big", bytes(5000, 2)))
        .layer(layer().hardlink("usr/bin/tool2", "usr/bin/tool").symlink("usr/bin/sh", "tool")
            .charDevice("dev/null", 1, 3).blockDevice("dev/sda", 8, 0).fifo("run/fifo")
            .file("empty", new byte[0]).file("exactly", bytes(CHUNK, 3)).paxMtime("1700000000.5")
            .file("caf\u00e9", "latin-1 name").whiteout("tmp"))
        .build();
  }

  private record Out(SquashResult result, byte[] blob) {}

  private Out squash(TestImage img, SquashOptions options, CompressionPool pool, String dir) throws IOException {
    SquashResult r = new Squasher(SquashListener.NONE, pool).squash(img.manifest(), img.blobs(), options,
        work.resolve(dir));
    byte[] blob = Files.readAllBytes(r.squashedLayerFile());
    r.deleteLayerFile();
    return new Out(r, blob);
  }

  private Out squash(TestImage img, Compression c, String dir) throws IOException {
    return squash(img, SquashOptions.DEFAULT.withCompression(c), CompressionPool.shared(), dir);
  }

  @Test
  void theSquashedLayerIsEstargzWithItsAnnotations() throws IOException {
    Out out = squash(image(), ESTARGZ, "a");
    EstargzReader r = EstargzReader.verify(out.blob, CHUNK);
    Descriptor layer = out.result.squashedLayer();
    assertEquals(MediaTypes.OCI_LAYER_GZIP, layer.mediaType(), "an ordinary gzip layer to every other client");
    assertEquals(Digest.sha256(out.blob), layer.digest());
    assertEquals(Digest.sha256(r.tocJson).toString(), layer.annotation(EstargzWriter.TOC_DIGEST_ANNOTATION));
    assertEquals(Long.toString(r.tar.length), layer.annotation(EstargzWriter.UNCOMPRESSED_SIZE_ANNOTATION));
    assertEquals(Digest.sha256(r.tar), out.result.squashedDiffId(), "the diff_id covers the whole tar");
    JsonNode inManifest = TestImage.parse(out.result.manifest()).get("layers").get(0);
    assertEquals(layer.json().toString(), inManifest.toString(), "the manifest carries the annotations");
    assertEquals(Digest.sha256(r.tocJson).toString(),
        inManifest.get("annotations").get(EstargzWriter.TOC_DIGEST_ANNOTATION).asText());
    assertEquals(Digest.sha256(r.tar).toString(),
        TestImage.parse(out.result.config()).get("rootfs").get("diff_ids").get(0).asText());
  }

  @Test
  void theTocDescribesEveryKindOfEntry() throws IOException {
    EstargzReader r = EstargzReader.verify(squash(image(), ESTARGZ, "k").blob, CHUNK);
    Map<String, JsonNode> toc = r.tocByName();
    JsonNode tool = toc.get("usr/bin/tool");
    assertEquals("reg", tool.get("type").asText());
    assertEquals(2500, tool.get("size").asLong());
    assertEquals(04755, tool.get("mode").asLong());
    assertEquals(Base64.getEncoder().encodeToString(CAPABILITY), tool.get("xattrs").get("security.capability")
        .asText(), "xattrs in base64");
    assertEquals(Base64.getEncoder().encodeToString("<&>".getBytes(StandardCharsets.UTF_8)),
        tool.get("xattrs").get("user.note").asText());
    assertEquals("2020-09-13T12:26:40Z", tool.get("modtime").asText());
    assertEquals("hardlink", toc.get("usr/bin/tool2").get("type").asText());
    assertEquals("usr/bin/tool", toc.get("usr/bin/tool2").get("linkName").asText());
    assertEquals("symlink", toc.get("usr/bin/sh").get("type").asText());
    assertEquals("tool", toc.get("usr/bin/sh").get("linkName").asText());
    assertEquals("char", toc.get("dev/null").get("type").asText());
    assertEquals(1, toc.get("dev/null").get("devMajor").asInt());
    assertEquals(3, toc.get("dev/null").get("devMinor").asInt());
    assertEquals("block", toc.get("dev/sda").get("type").asText());
    assertEquals(8, toc.get("dev/sda").get("devMajor").asInt());
    assertFalse(toc.get("dev/sda").has("devMinor"), "zero fields are left out, as Go does");
    assertEquals("fifo", toc.get("run/fifo").get("type").asText());
    assertEquals("dir", toc.get("etc/").get("type").asText());
    JsonNode passwd = toc.get("etc/passwd");
    assertEquals(42, passwd.get("gid").asInt());
    assertEquals(1000, passwd.get("uid").asInt());
    assertEquals("alice", passwd.get("userName").asText());
    assertEquals("shadow", passwd.get("groupName").asText());
    assertEquals("root", toc.get("etc/").get("userName").asText());
    assertFalse(toc.get("usr/bin/tool").has("userName"), "a name is given once per id, as Go does");
    JsonNode empty = toc.get("empty");
    assertFalse(empty.has("offset"), "an empty file has no data");
    assertEquals(Digest.sha256(new byte[0]).toString(), empty.get("digest").asText());
    assertEquals("2023-11-14T22:13:21Z", toc.get("exactly").get("modtime").asText(), "PAX mtime rounded");
    assertNotNull(toc.get("caf\ufffd"), "a name that is not UTF-8 is written as Go writes it: " + toc.keySet());
    assertEquals(EstargzWriter.NO_PREFETCH_LANDMARK, toc.keySet().iterator().next(), "the landmark comes first");
    assertFalse(toc.containsKey("tmp/big"), "whited out");
  }

  @Test
  void largeFilesAreSplitIntoChunksOfTheirOwnMembers() throws IOException {
    EstargzReader r = EstargzReader.verify(squash(image(), ESTARGZ, "c").blob, CHUNK);
    List<JsonNode> tool = new ArrayList<>();
    for (JsonNode e : r.toc.get("entries")) {
      if (e.get("name").asText().equals("usr/bin/tool")) {
        tool.add(e);
      }
    }
    assertEquals(3, tool.size(), "2500 bytes in chunks of 1000: " + tool);
    assertEquals(List.of("reg", "chunk", "chunk"), tool.stream().map(e -> e.get("type").asText()).toList());
    assertEquals(List.of(0L, 1000L, 2000L), tool.stream().map(e -> e.path("chunkOffset").asLong(0)).toList());
    assertEquals(List.of(1000L, 1000L, 0L), tool.stream().map(e -> e.path("chunkSize").asLong(0)).toList(),
        "the last, short chunk's size is implied");
    assertEquals(3, tool.stream().map(e -> e.get("offset").asLong()).distinct().count(), "a member each");
    JsonNode exactly = r.tocByName().get("exactly");
    assertEquals(CHUNK, exactly.get("chunkSize").asLong(), "a file of exactly one chunk, as Go writes it");
  }

  @Test
  void everyClientReadsTheGzipSquashPlusTheMetadataEntries() throws IOException {
    TestImage img = image();
    byte[] gzipTar = Blobs.decompress(squash(img, Compression.GZIP, "g").blob);
    byte[] blob = squash(img, ESTARGZ, "e").blob;
    EstargzReader r = EstargzReader.verify(blob, CHUNK);
    assertArrayEquals(r.tar, Blobs.decompress(blob), "the JDK's gunzip reads all the members as one stream");
    assertArrayEquals(gzipTar, r.tarWithoutMetadata(), "the same members as the gzip squash, in order");
    assertEquals(List.of(EstargzWriter.NO_PREFETCH_LANDMARK), r.items.stream().map(i -> i.entry().name())
        .filter(n -> n.startsWith(".") || n.equals(EstargzWriter.TOC_NAME)).limit(1).toList());
  }

  @Test
  void theBytesDependOnlyOnTheImageNotOnThreads() throws IOException, InterruptedException {
    TestImage img = image();
    byte[] reference = squash(img, ESTARGZ, "r").blob;
    assertArrayEquals(reference, squash(img, ESTARGZ, "r2").blob, "the same image twice");
    for (int threads : new int[] {1, 3}) {
      CompressionPool pool = CompressionPool.newFixed(threads, "test-estargz");
      try {
        assertArrayEquals(reference, squash(img, SquashOptions.DEFAULT.withCompression(ESTARGZ), pool,
            "t" + threads).blob, threads + " threads");
      } finally {
        ExecutorService e = (ExecutorService) pool.executor();
        e.shutdown();
        assertTrue(e.awaitTermination(10, TimeUnit.SECONDS));
      }
    }
    assertFalse(java.util.Arrays.equals(reference, squash(img, Compression.parse("estargz:6:700"), "o").blob),
        "the chunk size is part of the bytes");
  }

  /** Squashing eStargz layers: their TOCs and landmarks (and a link to one) give way to the new layer's own. */
  @Test
  void anEstargzSourceGetsOneTocAndOneLandmark() throws IOException {
    TestImage img = TestImage.oci()
        .layer(layer().file(EstargzWriter.NO_PREFETCH_LANDMARK, new byte[] {0xf}).file("a", "a")
            .file(EstargzWriter.TOC_NAME, "{\"version\":1,\"entries\":[]}"))
        .layer(layer().file("./" + EstargzWriter.PREFETCH_LANDMARK, new byte[] {0xf}).file("b", "b")
            .file("./" + EstargzWriter.TOC_NAME, "{}").hardlink("toc-link", "./" + EstargzWriter.TOC_NAME))
        .build();
    EstargzReader r = EstargzReader.verify(squash(img, ESTARGZ, "s").blob, CHUNK);
    assertEquals(List.of(EstargzWriter.NO_PREFETCH_LANDMARK, "b", "a", EstargzWriter.TOC_NAME),
        r.items.stream().map(i -> i.entry().name()).toList());
  }

  private static TestImage appImage() {
    return TestImage.oci()
        .layer(layer().dir("etc").file("etc/hosts", "127.0.0.1").dir("usr").dir("usr/lib").file("usr/lib/libc", bytes(3000, 4))
            .file("usr/lib/unused", "u").dir("old").file("old/x", "x"))
        .layer(layer().dir("usr/bin").file("usr/bin/app", bytes(1500, 5)).hardlink("etc/hosts-link", "etc/hosts")
            .file("var/log", "log").whiteout("old"))
        .build();
  }

  private static List<String> names(EstargzReader r) {
    return r.items.stream().map(i -> i.entry().name()).toList();
  }

  @Test
  void prioritizedFilesComeFirstWithTheirParentsAndLinkTargetsThenTheLandmark() throws IOException {
    TestImage img = appImage();
    List<String> first = List.of("/usr/bin/app", "etc/hosts-link", "usr/lib/libc", "not/there");
    SquashOptions options = SquashOptions.DEFAULT.withCompression(ESTARGZ).withPrioritized(first);
    Out out = squash(img, options, CompressionPool.shared(), "p");
    EstargzReader r = EstargzReader.verify(out.blob, CHUNK);
    List<String> names = names(r);
    int landmark = names.indexOf(EstargzWriter.PREFETCH_LANDMARK);
    assertFalse(names.contains(EstargzWriter.NO_PREFETCH_LANDMARK), names.toString());
    assertEquals(java.util.Set.of("usr/", "usr/bin/", "usr/bin/app", "etc/", "etc/hosts", "etc/hosts-link",
        "usr/lib/", "usr/lib/libc"), new java.util.HashSet<>(names.subList(0, landmark)), names.toString());
    assertTrue(names.indexOf("etc/hosts") < names.indexOf("etc/hosts-link"), "a link after its target");
    assertEquals(EstargzWriter.PREFETCH_LANDMARK, r.tocByName().keySet().stream()
        .filter(n -> n.startsWith(".")).findFirst().orElseThrow(), "the landmark is in the TOC");
    assertTrue(out.result.report().method().contains("prioritized"), out.result.report().method());
    // The same file system as without priorities, in another order.
    byte[] plain = Blobs.decompress(squash(img, Compression.GZIP, "pg").blob);
    assertEquals(io.squashproxy.core.testing.RefFs.of(List.of(plain)).view().brief(),
        io.squashproxy.core.testing.RefFs.of(List.of(r.tarWithoutMetadata())).view().brief());
    assertTrue(options.describe().contains("prioritized=/usr/bin/app,etc/hosts-link"), options.describe());
    assertArrayEquals(out.blob, squash(img, options, CompressionPool.shared(), "p2").blob, "reproducible");
  }

  @Test
  void whiteoutsStayFirstWhenFilesArePrioritized() throws IOException {
    TestImage img = TestImage.oci().layer(layer().dir("old").file("old/x", "x").file("keep", "k"))
        .layer(layer().dir("usr").file("usr/app", "app"))
        .layer(layer().whiteout("old").file("usr/app2", "2"))
        .build();
    Out out = squash(img, SquashOptions.DEFAULT.withCompression(ESTARGZ).withKeepLayers(1)
        .withPrioritized(List.of("usr/app")), CompressionPool.shared(), "w");
    List<String> names = names(EstargzReader.verify(out.blob, CHUNK));
    assertEquals(List.of(".wh.old", "usr/", "usr/app", EstargzWriter.PREFETCH_LANDMARK, "usr/app2",
        EstargzWriter.TOC_NAME), names);
  }

  @Test
  void prioritizedFilesNeedEstargz() {
    TestImage img = appImage();
    assertThrows(IllegalArgumentException.class, () -> squash(img, SquashOptions.DEFAULT.withPrioritized(
        List.of("usr/bin/app")), CompressionPool.shared(), "x"));
  }

  @Test
  void compressionSettings() {
    assertEquals(Compression.ESTARGZ, Compression.parse("estargz"));
    assertEquals(Compression.DEFAULT_ESTARGZ_CHUNK_SIZE, Compression.parse("estargz:9").chunkSize());
    assertEquals(9, Compression.parse("estargz:9").level());
    assertEquals("estargz:6", Compression.ESTARGZ.toString());
    assertEquals("estargz:9:65536", Compression.parse("estargz:9:65536").toString());
    assertEquals(Compression.parse("estargz:9:65536"), Compression.parse(Compression.parse("estargz:9:65536")
        .toString()));
    assertEquals(0, Compression.GZIP.chunkSize());
    for (String bad : new String[] {"estargz:0", "estargz:6:0", "estargz:6:x", "gzip:6:100", "estargz:6:1:2"}) {
      assertThrows(IllegalArgumentException.class, () -> Compression.parse(bad), bad);
    }
    assertThrows(IllegalStateException.class, () -> Compression.ESTARGZ.compress(java.io.OutputStream
        .nullOutputStream()));
    assertEquals(MediaTypes.DOCKER_LAYER_GZIP, io.squashproxy.core.image.ImageFamily.DOCKER
        .layerMediaType(Compression.Algorithm.ESTARGZ));
  }

  @Test
  void theFooterIsGosFiftyOneBytes() {
    byte[] f = EstargzWriter.footer(0x1234);
    assertEquals(51, f.length);
    assertEquals(0, Blobs.decompress(f).length, "an empty gzip member");
    assertEquals("0000000000001234STARGZ", new String(f, 16, 22, StandardCharsets.US_ASCII));
  }
}
