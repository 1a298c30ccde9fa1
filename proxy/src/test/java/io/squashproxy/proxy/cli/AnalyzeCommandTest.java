package io.squashproxy.proxy.cli;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.layout.TestImages;
import io.squashproxy.core.layout.TestImages.DockerImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code analyze} on archives: the figures a user reads, in text and JSON, and broken input. */
class AnalyzeCommandTest {
  @TempDir
  Path dir;

  private final CliRun cli = new CliRun();

  /** base (5000 B), a build layer writing 8000 B to /tmp, a layer deleting /tmp. */
  private Path archive(int corruptLayer) throws IOException {
    Path in = dir.resolve("in.tar");
    List<byte[]> tars = List.of(layer().file("usr/lib", new byte[5000]).tar(),
        layer().file("tmp/build.o", new byte[8000]).file("app", "x").tar(), layer().whiteout("tmp").tar());
    TestImages.writeDockerArchive(in, List.of(new DockerImage(List.of("app:1"), tars, false, corruptLayer)));
    return in;
  }

  @Test
  void jsonGivesEveryFigure() throws IOException {
    assertEquals(0, cli.run("analyze", archive(-1).toString(), "--json", "--waste-slack", "0"), cli.err.toString());
    JsonNode image = ImageJson.MAPPER.readTree(cli.out.toString()).get("images").get(0);
    assertEquals("app:1", image.get("name").asText());
    assertEquals(13_001, image.get("contentBytes").asLong());
    assertEquals(8_000, image.get("wastedBytes").asLong());
    JsonNode build = image.get("layers").get(1);
    assertEquals(8_000, build.get("wastedBytes").asLong());
    assertEquals(8_000, build.get("wastedBy").get("2").asLong());
    assertEquals(2, build.get("filesAdded").asInt());
    JsonNode file = image.get("largestWasted").get(0);
    assertEquals("tmp/build.o", file.get("path").asText());
    assertEquals(1, file.get("addedIn").asInt());
    assertEquals(2, file.get("hiddenBy").asInt());
    JsonNode modes = image.get("modes");
    assertEquals(3, modes.get("original").get("layers").asInt());
    assertEquals(1, modes.get("auto").get("keptLayers").asInt());
    assertEquals(2, modes.get("auto").get("layers").asInt());
    assertEquals(5_001, modes.get("auto").get("contentBytes").asLong());
    assertEquals(1, modes.get("all").get("layers").asInt());
    assertEquals(5_001, modes.get("all").get("contentBytes").asLong());
  }

  @Test
  void textNamesTheWasteAndWhatEachModeMakes() throws IOException {
    assertEquals(0, cli.run("analyze", archive(-1).toString(), "--waste-slack", "0"), cli.err.toString());
    String text = cli.out.toString();
    assertTrue(text.contains("tmp/build.o  (added in layer 1, hidden by layer 2)"), text);
    assertTrue(text.contains("keeps layer 0, squashes 1-2 into one"), text);
    assertTrue(text.contains("every layer squashed into one"), text);
  }

  @Test
  void theDefaultSlackKeepsSmallWaste() throws IOException {
    // 8000 bytes are within the default 1 MiB: auto would leave this image as it is.
    assertEquals(0, cli.run("analyze", archive(-1).toString()), cli.err.toString());
    assertTrue(cli.out.toString().contains("unchanged: nothing wasted beyond the slack"), cli.out.toString());
  }

  @Test
  void aBrokenLayerIsNamed() throws IOException {
    assertEquals(1, cli.run("analyze", archive(1).toString()));
    assertTrue(cli.err.toString().contains("image app:1") && cli.err.toString().contains("layer 1"), cli.err.toString());
    assertEquals("", cli.out.toString());
  }

  @Test
  void aBadSlackIsAUsageError() throws IOException {
    assertEquals(2, cli.run("analyze", archive(-1).toString(), "--waste-slack-percent", "150"));
    assertTrue(cli.err.toString().contains("between 0 and 100"), cli.err.toString());
  }
}
