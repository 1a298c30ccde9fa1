package io.squashproxy.core.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layout.TestImages.OciImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OciLayoutSquashTest {
  @TempDir
  Path dir;

  private final ArchiveSquasher squasher = new ArchiveSquasher();

  /** One single-platform image and one two-platform image (a nested index). */
  private Path layout() throws IOException {
    Map<String, List<OciImage>> refs = new LinkedHashMap<>();
    refs.put("app:1", List.of(new OciImage(TestImages.threeLayers("a"), "amd64")));
    refs.put("multi:2", List.of(new OciImage(TestImages.threeLayers("x"), "amd64"),
        new OciImage(TestImages.threeLayers("y"), "arm64")));
    Path in = dir.resolve("in");
    TestImages.writeOciLayout(in, refs);
    return in;
  }

  @Test
  void squashesEveryImageOfTheLayoutAndNestedIndexes() throws IOException {
    Path in = layout();
    Path out = dir.resolve("out");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertEquals(ArchiveFormat.OCI_LAYOUT, result.format());
    assertEquals(List.of("app:1", "multi:2 [linux/amd64]", "multi:2 [linux/arm64]"),
        result.images().stream().map(ImageOutcome::name).toList());
    assertTrue(result.images().stream().allMatch(ImageOutcome::squashed));
    Map<String, byte[]> files = readTree(out);
    JsonNode index = TestImages.json(files.get("index.json"));
    assertEquals("app:1", index.get("manifests").get(0).get("annotations")
        .get("org.opencontainers.image.ref.name").asText());
    assertEquals("multi:2", index.get("manifests").get(1).get("annotations")
        .get("org.opencontainers.image.ref.name").asText());
    assertEquals(result.images().get(0).manifestDigest().toString(),
        index.get("manifests").get(0).get("digest").asText());
    JsonNode nested = TestImages.json(blob(files, index.get("manifests").get(1)));
    assertEquals("arm64", nested.get("manifests").get(1).get("platform").get("architecture").asText());
    for (JsonNode manifestDesc : List.of(index.get("manifests").get(0), nested.get("manifests").get(0),
        nested.get("manifests").get(1))) {
      JsonNode manifest = TestImages.json(blob(files, manifestDesc));
      assertEquals(1, manifest.get("layers").size());
      JsonNode layerDesc = manifest.get("layers").get(0);
      assertEquals(MediaTypes.OCI_LAYER_GZIP, layerDesc.get("mediaType").asText());
      byte[] layer = blob(files, layerDesc);
      JsonNode config = TestImages.json(blob(files, manifest.get("config")));
      assertEquals(Digest.sha256(TestImages.decompress(layer)).toString(),
          config.get("rootfs").get("diff_ids").get(0).asText());
      assertFalse(TestImages.layerNames(layer).stream().anyMatch(n -> n.contains("motd")));
    }
    assertBlobsAreExactlyTheReferencedOnes(files);
  }

  @Test
  void sameInputGivesSameLayoutAndSquashingAgainChangesNothing() throws IOException {
    Path in = layout();
    Path out1 = dir.resolve("out1");
    Path out2 = dir.resolve("out2");
    Path again = dir.resolve("again");

    squasher.squash(in, out1, ArchiveOptions.DEFAULT, null);
    squasher.squash(in, out2, ArchiveOptions.DEFAULT, null);
    ArchiveResult second = squasher.squash(out1, again, ArchiveOptions.DEFAULT, null);

    assertTreesEqual(readTree(out1), readTree(out2));
    assertTrue(second.images().stream().allMatch(i -> i.kind() == ImageOutcome.Kind.NOTHING_TO_SQUASH));
    assertTreesEqual(readTree(out1), readTree(again));
  }

  @Test
  void keepLayersKeepsTheFirstBlobs() throws IOException {
    Path in = layout();
    Path out = dir.resolve("out");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT.withKeepLayers(1), null);

    assertTrue(result.images().stream().allMatch(i -> i.report().layersAfter() == 2));
    Map<String, byte[]> files = readTree(out);
    JsonNode index = TestImages.json(files.get("index.json"));
    JsonNode manifest = TestImages.json(blob(files, index.get("manifests").get(0)));
    String firstLayer = manifest.get("layers").get(0).get("digest").asText();
    assertTrue(Files.exists(in.resolve("blobs/sha256/" + firstLayer.substring(7))), "kept the source blob");
    assertBlobsAreExactlyTheReferencedOnes(files);
  }

  @Test
  void anOciArchiveIsSquashedReproduciblyIntoAnOciArchive() throws IOException {
    Path layout = layout();
    Path in = dir.resolve("in.tar");
    TestImages.tarDirectory(layout, in);
    Path out1 = dir.resolve("out1.tar");
    Path out2 = dir.resolve("out2.tar");
    Path again = dir.resolve("again.tar");

    ArchiveResult result = squasher.squash(in, out1, ArchiveOptions.DEFAULT, null);
    squasher.squash(in, out2, ArchiveOptions.DEFAULT, null);
    ArchiveResult second = squasher.squash(out1, again, ArchiveOptions.DEFAULT, null);

    assertEquals(ArchiveFormat.OCI_ARCHIVE, result.format());
    assertEquals(3, result.images().size());
    assertTrue(result.images().stream().allMatch(ImageOutcome::squashed));
    assertArrayEquals(Files.readAllBytes(out1), Files.readAllBytes(out2));
    assertTrue(second.images().stream().allMatch(i -> i.kind() == ImageOutcome.Kind.NOTHING_TO_SQUASH));
    assertArrayEquals(Files.readAllBytes(out1), Files.readAllBytes(again));
    Map<String, byte[]> members = new TreeMap<>();
    TestImages.readTar(out1).forEach((k, v) -> {
      if (v != null) {
        members.put(k, v);
      }
    });
    assertTrue(members.containsKey("oci-layout"));
    assertBlobsAreExactlyTheReferencedOnes(members);
  }

  @Test
  void attestationsAreCopiedAndPointAtTheSquashedImage() throws IOException {
    Path in = layout();
    TestImages.addAttestation(in, 1);
    Path out = dir.resolve("out");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertEquals(ImageOutcome.Kind.NOT_AN_IMAGE, result.images().get(3).kind());
    Map<String, byte[]> files = readTree(out);
    JsonNode index = TestImages.json(files.get("index.json"));
    JsonNode nested = TestImages.json(blob(files, index.get("manifests").get(1)));
    JsonNode attestation = nested.get("manifests").get(2);
    assertEquals(nested.get("manifests").get(0).get("digest").asText(),
        attestation.get("annotations").get("vnd.docker.reference.digest").asText());
    assertEquals(result.images().get(1).manifestDigest().toString(),
        nested.get("manifests").get(0).get("digest").asText());
    assertArrayEquals(Files.readAllBytes(in.resolve("blobs/sha256/" + attestation.get("digest").asText().substring(7))),
        blob(files, attestation));
    assertBlobsAreExactlyTheReferencedOnes(files);
  }

  @Test
  void anImageNamedTwiceIsSquashedOnce() throws IOException {
    Path in = dir.resolve("in");
    OciImage image = new OciImage(TestImages.threeLayers("a"), "amd64");
    TestImages.writeOciLayout(in, new LinkedHashMap<>(Map.of("a", List.of(image))));
    TestImages.writeOciLayout(dir.resolve("b"), Map.of("b", List.of(image)));
    JsonNode a = TestImages.json(Files.readAllBytes(in.resolve("index.json")));
    JsonNode b = TestImages.json(Files.readAllBytes(dir.resolve("b/index.json")));
    ((com.fasterxml.jackson.databind.node.ArrayNode) a.get("manifests")).add(b.get("manifests").get(0));
    Files.write(in.resolve("index.json"), io.squashproxy.core.image.ImageJson.write(a));
    Path out = dir.resolve("out");

    ArchiveResult result = squasher.squash(in, out, ArchiveOptions.DEFAULT, null);

    assertEquals(1, result.images().size());
    JsonNode index = TestImages.json(Files.readAllBytes(out.resolve("index.json")));
    assertEquals(index.get("manifests").get(0).get("digest"), index.get("manifests").get(1).get("digest"));
    assertEquals("b", index.get("manifests").get(1).get("annotations").get("org.opencontainers.image.ref.name")
        .asText());
  }

  @Test
  void aCorruptBlobIsNamedAndLeavesNoOutputNorTemporaryFiles() throws IOException {
    Path in = layout();
    JsonNode index = TestImages.json(Files.readAllBytes(in.resolve("index.json")));
    JsonNode manifest = TestImages.json(Files.readAllBytes(
        in.resolve("blobs/sha256/" + index.get("manifests").get(0).get("digest").asText().substring(7))));
    String layer = manifest.get("layers").get(1).get("digest").asText();
    Path blob = in.resolve("blobs/sha256/" + layer.substring(7));
    Files.write(blob, TestImages.corrupt(Files.readAllBytes(blob)));
    Path out = dir.resolve("out");

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, out, ArchiveOptions.DEFAULT, null));

    assertTrue(e.getMessage().contains("layer 1 (" + layer + ")"), e.getMessage());
    assertTrue(e.getMessage().contains(blob.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("app:1"), e.getMessage());
    try (Stream<Path> list = Files.list(dir)) {
      assertEquals(List.of(in), list.toList());
    }
  }

  @Test
  void aCorruptBlobInAnOciArchiveIsNamedAndLeavesNothing() throws IOException {
    Path layout = layout();
    JsonNode index = TestImages.json(Files.readAllBytes(layout.resolve("index.json")));
    JsonNode manifest = TestImages.json(Files.readAllBytes(
        layout.resolve("blobs/sha256/" + index.get("manifests").get(0).get("digest").asText().substring(7))));
    String layer = manifest.get("layers").get(0).get("digest").asText();
    Path blob = layout.resolve("blobs/sha256/" + layer.substring(7));
    Files.write(blob, TestImages.corrupt(Files.readAllBytes(blob)));
    Path in = dir.resolve("in.tar");
    TestImages.tarDirectory(layout, in);
    Path out = dir.resolve("out.tar");

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, out, ArchiveOptions.DEFAULT.withKeepLayers(1), null));

    assertTrue(e.getMessage().contains("layer 0 (" + layer + ")"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 'blobs/sha256/" + layer.substring(7) + "'"), e.getMessage());
    try (Stream<Path> list = Files.list(dir)) {
      assertEquals(Set.of(layout, in), Set.copyOf(list.toList()));
    }
  }

  @Test
  void aDirectoryWithoutOciLayoutIsRefused() throws IOException {
    Path in = Files.createDirectory(dir.resolve("in"));

    LayoutException e = assertThrows(LayoutException.class,
        () -> squasher.squash(in, dir.resolve("out"), ArchiveOptions.DEFAULT, null));

    assertTrue(e.getMessage().contains("oci-layout"), e.getMessage());
    assertFalse(Files.exists(dir.resolve("out")));
  }

  /** Every blob's name is its digest, and the blobs are exactly those index.json reaches. */
  private static void assertBlobsAreExactlyTheReferencedOnes(Map<String, byte[]> files) throws IOException {
    Set<String> blobs = new HashSet<>();
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      if (f.getKey().startsWith("blobs/")) {
        assertEquals(f.getKey().substring("blobs/sha256/".length()), Digest.sha256(f.getValue()).hex());
        blobs.add(f.getKey());
      }
    }
    Set<String> reached = new HashSet<>();
    reach(files, TestImages.json(files.get("index.json")), reached);
    assertEquals(blobs, reached);
  }

  private static void reach(Map<String, byte[]> files, JsonNode doc, Set<String> reached) throws IOException {
    for (String field : List.of("manifests", "layers")) {
      for (JsonNode d : doc.path(field)) {
        String path = "blobs/sha256/" + d.get("digest").asText().substring(7);
        reached.add(path);
        if (field.equals("manifests")) {
          reach(files, TestImages.json(files.get(path)), reached);
        }
      }
    }
    if (doc.has("config")) {
      reached.add("blobs/sha256/" + doc.get("config").get("digest").asText().substring(7));
    }
  }

  private static byte[] blob(Map<String, byte[]> files, JsonNode descriptor) {
    return files.get("blobs/sha256/" + descriptor.get("digest").asText().substring(7));
  }

  private static Map<String, byte[]> readTree(Path root) throws IOException {
    Map<String, byte[]> files = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.filter(Files::isRegularFile).toList()) {
        files.put(root.relativize(p).toString(), Files.readAllBytes(p));
      }
    }
    return files;
  }

  private static void assertTreesEqual(Map<String, byte[]> a, Map<String, byte[]> b) {
    assertEquals(a.keySet(), b.keySet());
    a.forEach((k, v) -> assertArrayEquals(v, b.get(k), k));
  }
}
