package io.squashproxy.proxy.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.layout.TestImages;
import io.squashproxy.core.layout.TestImages.DockerImage;
import io.squashproxy.core.layout.TestImages.OciImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SquashCommandTest {
  @TempDir
  Path dir;

  private final CliRun cli = new CliRun();

  private Path dockerArchive(int corruptLayer) throws IOException {
    Path in = dir.resolve("in.tar");
    TestImages.writeDockerArchive(in,
        List.of(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"), false, corruptLayer)));
    return in;
  }

  @Test
  void helpListsTheCommands() {
    assertEquals(0, cli.run("--help"));
    assertTrue(cli.out.toString().contains("squash "), cli.out.toString());
    assertTrue(cli.out.toString().contains("Commands:"), cli.out.toString());
  }

  @Test
  void squashHelpShowsTheOptions() {
    assertEquals(0, cli.run("squash", "--help"));
    for (String option : List.of("--input", "--output", "--keep-layers", "--compression", "--work-dir")) {
      assertTrue(cli.out.toString().contains(option), option);
    }
  }

  @Test
  void noCommandIsAUsageError() {
    assertEquals(2, cli.run());
    assertTrue(cli.err.toString().contains("Missing required subcommand"), cli.err.toString());
  }

  @Test
  void missingOptionsAndBadValuesAreUsageErrors() throws IOException {
    Path in = dockerArchive(-1);
    assertEquals(2, cli.run("squash", "--input", in.toString()));
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", dir.resolve("o.tar").toString(), "--compression",
        "lz4"));
    assertTrue(cli.err.toString().contains("unknown compression 'lz4'"), cli.err.toString());
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", dir.resolve("o.tar").toString(), "--keep-layers",
        "-1"));
    assertFalse(Files.exists(dir.resolve("o.tar")));
  }

  @Test
  void squashesADockerArchiveAndPrintsTheReport() throws IOException {
    Path in = dockerArchive(-1);
    Path output = dir.resolve("out.tar");

    assertEquals(0, cli.run("squash", "--input", in.toString(), "--output", output.toString()), cli.err.toString());

    String report = cli.out.toString();
    assertTrue(report.contains("app:1:"), report);
    assertTrue(report.contains("layers 3 -> 1, compressed"), report);
    assertTrue(report.contains("layers:             3 -> 1"), report);
    assertTrue(report.contains("compressed bytes:"), report);
    assertTrue(report.contains("uncompressed bytes:"), report);
    assertTrue(report.contains("bytes saved:"), report);
    assertTrue(report.contains("manifest:           sha256:"), report);
    assertTrue(report.contains("wrote " + output + " (docker-archive, 1 of 1 image squashed)"), report);
    Map<String, byte[]> members = TestImages.readTar(output);
    JsonNode manifest = TestImages.json(members.get("manifest.json")).get(0);
    assertEquals(1, manifest.get("Layers").size());
  }

  @Test
  void keepLayersAndCompressionReachTheSquash() throws IOException {
    Path in = dockerArchive(-1);
    Path output = dir.resolve("out.tar");

    assertEquals(0, cli.run("squash", "-i", in.toString(), "-o", output.toString(), "--keep-layers", "1",
        "--compression", "gzip:9", "--work-dir", dir.resolve("work").toString()), cli.err.toString());

    Map<String, byte[]> members = TestImages.readTar(output);
    JsonNode layers = TestImages.json(members.get("manifest.json")).get(0).get("Layers");
    assertEquals(2, layers.size());
    assertEquals(0x1f, members.get(layers.get(1).asText())[0] & 0xff, "the squashed layer is gzip");
    assertTrue(cli.out.toString().contains("layers:             3 -> 2"), cli.out.toString());
    try (Stream<Path> work = Files.list(dir.resolve("work"))) {
      assertEquals(0, work.count(), "the work directory is left empty");
    }
  }

  @Test
  void estargzWithChunkSizeAndPrioritizedFilesReachesTheOciManifest() throws IOException {
    Path in = dir.resolve("in");
    TestImages.writeOciLayout(in, Map.of("app:1", List.of(new OciImage(TestImages.threeLayers("a"), "amd64"))));
    Path out = dir.resolve("out");

    assertEquals(0, cli.run("squash", "-i", in.toString(), "-o", out.toString(), "--compression", "estargz:9",
        "--estargz-chunk-size", "1KiB", "--prioritize", "/usr/app"), cli.err.toString());

    JsonNode index = TestImages.json(Files.readAllBytes(out.resolve("index.json")));
    JsonNode manifest = TestImages.json(blob(out, index.get("manifests").get(0).get("digest").asText()));
    JsonNode layer = manifest.get("layers").get(0);
    assertEquals("application/vnd.oci.image.layer.v1.tar+gzip", layer.get("mediaType").asText());
    assertTrue(layer.get("annotations").get("containerd.io/snapshot/stargz/toc.digest").asText()
        .startsWith("sha256:"), layer.toString());
    assertTrue(layer.get("annotations").has("io.containers.estargz.uncompressed-size"), layer.toString());
    List<String> names = TestImages.layerNames(blob(out, layer.get("digest").asText()));
    assertEquals(List.of("usr/", "usr/app", ".prefetch.landmark"), names.subList(0, 3), names.toString());
    assertEquals("stargz.index.json", names.get(names.size() - 1));
    JsonNode config = TestImages.json(blob(out, manifest.get("config").get("digest").asText()));
    String history = config.get("history").toString();
    assertTrue(history.contains("compression=estargz:9:1024 prioritized=/usr/app"), history);
  }

  @Test
  void estargzOptionsWithoutEstargzAreUsageErrors() throws IOException {
    Path in = dockerArchive(-1);
    String o = dir.resolve("o.tar").toString();
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", o, "--prioritize", "bin/sh"));
    assertTrue(cli.err.toString().contains("go with --compression estargz"), cli.err.toString());
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", o, "--compression", "gzip",
        "--estargz-chunk-size", "1MiB"));
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", o, "--compression", "estargz",
        "--estargz-chunk-size", "0"));
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", o, "--compression", "estargz",
        "--prioritize", "../etc"));
    assertTrue(cli.err.toString().contains("--prioritize"), cli.err.toString());
  }

  private static byte[] blob(Path layout, String digest) throws IOException {
    return Files.readAllBytes(layout.resolve("blobs/sha256/" + digest.substring("sha256:".length())));
  }

  @Test
  void squashesAnOciLayoutAgainIntoNothingToDo() throws IOException {
    Path in = dir.resolve("in");
    TestImages.writeOciLayout(in, Map.of("app:1", List.of(new OciImage(TestImages.threeLayers("a"), "amd64"))));
    Path once = dir.resolve("once");
    Path twice = dir.resolve("twice");

    assertEquals(0, cli.run("squash", "-i", in.toString(), "-o", once.toString()), cli.err.toString());
    assertEquals(0, cli.run("squash", "-i", once.toString(), "-o", twice.toString()), cli.err.toString());

    assertTrue(cli.out.toString().contains("nothing to squash (1 layer), copied as it was"), cli.out.toString());
    assertArrayEquals(Files.readAllBytes(once.resolve("index.json")), Files.readAllBytes(twice.resolve("index.json")));
  }

  @Test
  void aCorruptLayerExitsWithOneAndNamesItWithoutAStackTrace() throws IOException {
    Path in = dockerArchive(1);
    Path output = dir.resolve("out.tar");

    assertEquals(1, cli.run("squash", "-i", in.toString(), "-o", output.toString()));

    String message = cli.err.toString();
    assertTrue(message.startsWith("error: " + in), message);
    assertTrue(message.contains("/layer.tar"), message);
    assertTrue(message.contains("layer 1"), message);
    assertFalse(message.contains("\tat "), message);
    assertEquals(1, message.strip().lines().count(), message);
    assertFalse(Files.exists(output));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(in), files.toList());
    }
  }

  @Test
  void aMissingInputExitsWithOne() {
    assertEquals(1, cli.run("squash", "-i", dir.resolve("nope.tar").toString(), "-o", dir.resolve("o.tar").toString()));
    assertTrue(cli.err.toString().contains("nope.tar: no such file or directory"), cli.err.toString());
  }
}
