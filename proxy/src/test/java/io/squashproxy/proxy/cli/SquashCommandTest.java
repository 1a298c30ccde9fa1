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
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class SquashCommandTest {
  @TempDir
  Path dir;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  private Path dockerArchive(int corruptLayer) throws IOException {
    Path in = dir.resolve("in.tar");
    TestImages.writeDockerArchive(in,
        List.of(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"), false, corruptLayer)));
    return in;
  }

  @Test
  void helpListsTheCommands() {
    assertEquals(0, run("--help"));
    assertTrue(out.toString().contains("squash "), out.toString());
    assertTrue(out.toString().contains("Commands:"), out.toString());
  }

  @Test
  void squashHelpShowsTheOptions() {
    assertEquals(0, run("squash", "--help"));
    for (String option : List.of("--input", "--output", "--keep-layers", "--compression", "--work-dir")) {
      assertTrue(out.toString().contains(option), option);
    }
  }

  @Test
  void noCommandIsAUsageError() {
    assertEquals(2, run());
    assertTrue(err.toString().contains("Missing required subcommand"), err.toString());
  }

  @Test
  void missingOptionsAndBadValuesAreUsageErrors() throws IOException {
    Path in = dockerArchive(-1);
    assertEquals(2, run("squash", "--input", in.toString()));
    assertEquals(2, run("squash", "-i", in.toString(), "-o", dir.resolve("o.tar").toString(), "--compression",
        "lz4"));
    assertTrue(err.toString().contains("unknown compression 'lz4'"), err.toString());
    assertEquals(2, run("squash", "-i", in.toString(), "-o", dir.resolve("o.tar").toString(), "--keep-layers",
        "-1"));
    assertFalse(Files.exists(dir.resolve("o.tar")));
  }

  @Test
  void squashesADockerArchiveAndPrintsTheReport() throws IOException {
    Path in = dockerArchive(-1);
    Path output = dir.resolve("out.tar");

    assertEquals(0, run("squash", "--input", in.toString(), "--output", output.toString()), err.toString());

    String report = out.toString();
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

    assertEquals(0, run("squash", "-i", in.toString(), "-o", output.toString(), "--keep-layers", "1",
        "--compression", "gzip:9", "--work-dir", dir.resolve("work").toString()), err.toString());

    Map<String, byte[]> members = TestImages.readTar(output);
    JsonNode layers = TestImages.json(members.get("manifest.json")).get(0).get("Layers");
    assertEquals(2, layers.size());
    assertEquals(0x1f, members.get(layers.get(1).asText())[0] & 0xff, "the squashed layer is gzip");
    assertTrue(out.toString().contains("layers:             3 -> 2"), out.toString());
    try (Stream<Path> work = Files.list(dir.resolve("work"))) {
      assertEquals(0, work.count(), "the work directory is left empty");
    }
  }

  @Test
  void squashesAnOciLayoutAgainIntoNothingToDo() throws IOException {
    Path in = dir.resolve("in");
    TestImages.writeOciLayout(in, Map.of("app:1", List.of(new OciImage(TestImages.threeLayers("a"), "amd64"))));
    Path once = dir.resolve("once");
    Path twice = dir.resolve("twice");

    assertEquals(0, run("squash", "-i", in.toString(), "-o", once.toString()), err.toString());
    assertEquals(0, run("squash", "-i", once.toString(), "-o", twice.toString()), err.toString());

    assertTrue(out.toString().contains("nothing to squash (1 layer), copied as it was"), out.toString());
    assertArrayEquals(Files.readAllBytes(once.resolve("index.json")), Files.readAllBytes(twice.resolve("index.json")));
  }

  @Test
  void aCorruptLayerExitsWithOneAndNamesItWithoutAStackTrace() throws IOException {
    Path in = dockerArchive(1);
    Path output = dir.resolve("out.tar");

    assertEquals(1, run("squash", "-i", in.toString(), "-o", output.toString()));

    String message = err.toString();
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
    assertEquals(1, run("squash", "-i", dir.resolve("nope.tar").toString(), "-o", dir.resolve("o.tar").toString()));
    assertTrue(err.toString().contains("nope.tar: no such file or directory"), err.toString());
  }
}
