package io.squashproxy.core.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layout.TestImages.DockerImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DockerArchiveSquashTest {
  @TempDir
  Path dir;

  private final ArchiveSquasher squasher = new ArchiveSquasher();

  private Path archive(DockerImage... images) throws IOException {
    Path in = dir.resolve("in.tar");
    TestImages.writeDockerArchive(in, List.of(images));
    return in;
  }

  @Test
  void squashesToOneUncompressedLayerWithMatchingDiffId() throws IOException {
    Path in = archive(new DockerImage(List.of("example.com/app:1.0"), TestImages.threeLayers("a")));
    Path out = dir.resolve("out.tar");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertEquals(ArchiveFormat.DOCKER_ARCHIVE, result.format());
    ImageOutcome image = result.images().get(0);
    assertEquals("example.com/app:1.0", image.name());
    assertTrue(image.squashed());
    assertEquals(3, image.report().layersBefore());
    assertEquals(1, image.report().layersAfter());

    Map<String, byte[]> members = TestImages.readTar(out);
    JsonNode manifest = TestImages.json(members.get("manifest.json")).get(0);
    assertEquals("example.com/app:1.0", manifest.get("RepoTags").get(0).asText());
    assertEquals(1, manifest.get("Layers").size());
    byte[] layer = members.get(manifest.get("Layers").get(0).asText());
    byte[] config = members.get(manifest.get("Config").asText());
    assertEquals(image.configDigest().hex() + ".json", manifest.get("Config").asText());
    assertEquals(Digest.sha256(config), image.configDigest());
    // docker-archive default: uncompressed, so the file's digest is the diff_id and names its directory
    JsonNode diffIds = TestImages.json(config).get("rootfs").get("diff_ids");
    assertEquals(1, diffIds.size());
    assertEquals(Digest.sha256(layer).toString(), diffIds.get(0).asText());
    assertEquals(Digest.sha256(layer).hex() + "/layer.tar", manifest.get("Layers").get(0).asText());
    List<String> names = TestImages.layerNames(layer);
    assertTrue(names.contains("usr/app"));
    assertTrue(names.contains("etc/passwd"));
    assertFalse(names.stream().anyMatch(n -> n.contains("motd")), names.toString());
    JsonNode repositories = TestImages.json(members.get("repositories"));
    assertEquals(Digest.sha256(layer).hex(), repositories.get("example.com/app").get("1.0").asText());
    assertOnlyFiles(in, out);
  }

  @Test
  void sameInputGivesSameBytesAndSquashingAgainChangesNothing() throws IOException {
    Path in = archive(new DockerImage(List.of("app:latest"), TestImages.threeLayers("a")));
    Path out1 = dir.resolve("out1.tar");
    Path out2 = dir.resolve("out2.tar");
    Path again = dir.resolve("again.tar");

    squasher.squash(in, out1, ArchiveOptions.DEFAULT, null);
    squasher.squash(in, out2, ArchiveOptions.DEFAULT, null);
    ArchiveResult second = squasher.squash(out1, again, ArchiveOptions.DEFAULT, null);

    assertArrayEquals(Files.readAllBytes(out1), Files.readAllBytes(out2));
    assertEquals(ImageOutcome.Kind.NOTHING_TO_SQUASH, second.images().get(0).kind());
    assertArrayEquals(Files.readAllBytes(out1), Files.readAllBytes(again));
  }

  @Test
  void keepsTheFirstLayersAsTheyWere() throws IOException {
    List<byte[]> tars = TestImages.threeLayers("a");
    Path in = archive(new DockerImage(List.of("app:1"), tars));
    Path out = dir.resolve("out.tar");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT.withKeepLayers(1), null);

    assertEquals(2, result.images().get(0).report().layersAfter());
    Map<String, byte[]> members = TestImages.readTar(out);
    JsonNode manifest = TestImages.json(members.get("manifest.json")).get(0);
    JsonNode layers = manifest.get("Layers");
    assertEquals(2, layers.size());
    assertArrayEquals(tars.get(0), members.get(layers.get(0).asText()));
    JsonNode diffIds = TestImages.json(members.get(manifest.get("Config").asText())).get("rootfs").get("diff_ids");
    assertEquals(Digest.sha256(tars.get(0)).toString(), diffIds.get(0).asText());
    assertEquals(Digest.sha256(members.get(layers.get(1).asText())).toString(), diffIds.get(1).asText());
  }

  @Test
  void honoursAnExplicitCompression() throws IOException {
    Path in = archive(new DockerImage(List.of("app:1"), TestImages.threeLayers("a")));
    Path out = dir.resolve("out.tar");

    squasher.squash(in, out, ArchiveOptions.DEFAULT.withCompression(Compression.GZIP), null);

    Map<String, byte[]> members = TestImages.readTar(out);
    JsonNode manifest = TestImages.json(members.get("manifest.json")).get(0);
    String layerName = manifest.get("Layers").get(0).asText();
    byte[] layer = members.get(layerName);
    assertEquals(0x1f, layer[0] & 0xff);
    assertEquals(Digest.sha256(layer).hex() + "/layer.tar", layerName);
    JsonNode diffIds = TestImages.json(members.get(manifest.get("Config").asText())).get("rootfs").get("diff_ids");
    assertEquals(Digest.sha256(TestImages.decompress(layer)).toString(), diffIds.get(0).asText());
  }

  @Test
  void squashesEveryImageAndWritesSharedLayersOnce() throws IOException {
    List<byte[]> a = TestImages.threeLayers("a");
    List<byte[]> b = List.of(a.get(0), TestImages.layer("srv/", "srv/b=b"), TestImages.layer("srv/c=c"));
    Path in = archive(new DockerImage(List.of("a:1", "a:latest"), a), new DockerImage(List.of(), b));
    Path out = dir.resolve("out.tar");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT.withKeepLayers(1), null);

    assertEquals(2, result.images().size());
    assertEquals("a:1, a:latest", result.images().get(0).name());
    assertTrue(result.images().get(1).name().startsWith("sha256:"));
    Map<String, byte[]> members = TestImages.readTar(out);
    JsonNode manifests = TestImages.json(members.get("manifest.json"));
    assertEquals(2, manifests.size());
    assertEquals(manifests.get(0).get("Layers").get(0), manifests.get(1).get("Layers").get(0));
    assertTrue(manifests.get(1).get("RepoTags").isNull());
    long layerFiles = members.keySet().stream().filter(n -> n.endsWith("/layer.tar")).count();
    assertEquals(3, layerFiles);
    JsonNode repositories = TestImages.json(members.get("repositories"));
    assertEquals(2, repositories.get("a").size());
  }

  @Test
  void readsGzipLayersAndACompressedArchive() throws IOException {
    Path plain = dir.resolve("plain.tar");
    TestImages.writeDockerArchive(plain,
        List.of(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"), true, -1)));
    Path in = dir.resolve("in.tar.gz");
    Files.write(in, TestImages.gzip(Files.readAllBytes(plain)));
    Path out = dir.resolve("out.tar");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertTrue(result.images().get(0).squashed());
    Map<String, byte[]> members = TestImages.readTar(out);
    JsonNode manifest = TestImages.json(members.get("manifest.json")).get(0);
    byte[] layer = members.get(manifest.get("Layers").get(0).asText());
    assertEquals('e', layer[0], "uncompressed by default, starting with the first entry's name");
  }

  @Test
  void readsTheDocker25LayoutAsADockerArchive() throws IOException {
    List<byte[]> tars = TestImages.threeLayers("a");
    byte[] config = TestImages.config(tars, "amd64");
    Map<String, byte[]> members = new java.util.LinkedHashMap<>();
    members.put("blobs/", null);
    members.put("blobs/sha256/", null);
    StringBuilder layers = new StringBuilder();
    for (byte[] tar : tars) {
      members.put("blobs/sha256/" + Digest.sha256(tar).hex(), tar);
      layers.append(layers.length() == 0 ? "" : ",").append("\"blobs/sha256/").append(Digest.sha256(tar).hex())
          .append('"');
    }
    members.put("blobs/sha256/" + Digest.sha256(config).hex(), config);
    members.put("index.json", "{\"schemaVersion\":2,\"manifests\":[]}".getBytes());
    members.put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes());
    members.put("manifest.json", ("[{\"Config\":\"blobs/sha256/" + Digest.sha256(config).hex()
        + "\",\"RepoTags\":[\"app:1\"],\"Layers\":[" + layers + "]}]").getBytes());
    Path in = dir.resolve("in.tar");
    TestImages.writeTar(in, members);
    Path out = dir.resolve("out.tar");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertEquals(ArchiveFormat.DOCKER_ARCHIVE, result.format());
    assertEquals(1, result.images().get(0).report().layersAfter());
  }

  @Test
  void aCorruptLayerIsNamedAndLeavesNoOutputNorTemporaryFiles() throws IOException {
    Path in = archive(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"), false, 1));
    Path out = dir.resolve("out.tar");
    Path work = dir.resolve("work");
    String layerName = Digest.sha256(TestImages.threeLayers("a").get(1)).hex() + "/layer.tar";

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, out, ArchiveOptions.DEFAULT, work));

    assertTrue(e.getMessage().contains(layerName), e.getMessage());
    assertTrue(e.getMessage().contains("layer 1"), e.getMessage());
    assertTrue(e.getMessage().startsWith(in.toString()), e.getMessage());
    assertFalse(Files.exists(out));
    assertOnlyFiles(in, work);
    assertEquals(0, countFiles(work));
  }

  @Test
  void aCorruptGzipLayerIsNamedByTheSquash() throws IOException {
    Path in = archive(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"), true, 2));
    Path out = dir.resolve("out.tar");

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, out, ArchiveOptions.DEFAULT, null));

    assertTrue(e.getMessage().contains("layer 2"), e.getMessage());
    assertTrue(e.getMessage().contains("/layer.tar"), e.getMessage());
    assertOnlyFiles(in);
  }

  @Test
  void aTarThatIsNoImageArchiveIsRefused() throws IOException {
    Path in = dir.resolve("in.tar");
    TestImages.writeTar(in, Map.of("hello.txt", "hi".getBytes()));

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, dir.resolve("out.tar"), ArchiveOptions.DEFAULT, null));

    assertTrue(e.getMessage().startsWith(in.toString()), e.getMessage());
    assertOnlyFiles(in);
  }

  private void assertOnlyFiles(Path... expected) throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      assertEquals(java.util.Set.of(expected), java.util.Set.copyOf(list.toList()));
    }
  }

  private static long countFiles(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      return walk.filter(p -> !p.equals(root)).count();
    }
  }
}
