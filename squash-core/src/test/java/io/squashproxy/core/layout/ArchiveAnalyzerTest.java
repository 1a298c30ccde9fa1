package io.squashproxy.core.layout;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.squash.WasteAnalysis;
import io.squashproxy.core.squash.WasteSlack;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TarListing;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code analyze} on the shapes the merge rules are about: the bytes it calls wasted are exactly the file content
 * a squash removes, and what it says each mode produces is what the squash of that mode writes.
 */
class ArchiveAnalyzerTest {
  @TempDir
  Path dir;

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    new java.util.Random(seed).nextBytes(b);
    return b;
  }

  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of("whiteouts", List.of(
            layer().file("usr/lib", bytes(40_000, 1)).file("etc/motd", bytes(3_000, 2)),
            layer().file("tmp/a", bytes(20_000, 3)).file("tmp/b", bytes(9_000, 4)),
            layer().whiteout("tmp/a").whiteout("etc/motd"))),
        Arguments.of("opaque directories", List.of(
            layer().file("usr/lib", bytes(40_000, 1)),
            layer().dir("cache").file("cache/x", bytes(30_000, 5)).file("cache/y", bytes(7_000, 6)),
            layer().opaque("cache").file("cache/z", bytes(100, 7)))),
        Arguments.of("hard links", List.of(
            layer().file("usr/lib", bytes(40_000, 1)),
            layer().file("opt/tool", bytes(25_000, 8)).hardlink("opt/alias", "opt/tool")
                .file("opt/gone", bytes(12_000, 9)).hardlink("opt/gone-too", "opt/gone"),
            layer().whiteout("opt/tool").whiteout("opt/gone").whiteout("opt/gone-too"))),
        Arguments.of("type changes", List.of(
            layer().file("usr/lib", bytes(40_000, 1)),
            layer().dir("data").file("data/a", bytes(15_000, 10)).file("data/b", bytes(15_000, 11)),
            layer().file("data", bytes(50, 12)).dir("usr/lib").file("usr/lib/new", bytes(10, 13)))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void wastedBytesAreWhatTheSquashRemoves(String shape, List<LayerBuilder> layers) throws IOException {
    List<byte[]> tars = layers.stream().map(LayerBuilder::tar).toList();
    Path layout = dir.resolve("in");
    TestImages.writeOciLayout(layout, Map.of("app:1", List.of(new TestImages.OciImage(tars, "amd64"))));
    List<ArchiveAnalyzer.AnalyzedImage> images = new ArchiveAnalyzer().analyze(layout);
    assertEquals(1, images.size());
    assertEquals("app:1", images.get(0).name());
    WasteAnalysis a = images.get(0).analysis();
    long original = tars.stream().mapToLong(TarListing::contentBytes).sum();
    assertEquals(original, a.contentBytes());
    assertTrue(a.wastedBytes() > 0, shape + " wastes something");

    List<byte[]> all = squash(layout, "all", ArchiveOptions.DEFAULT);
    long allContent = all.stream().mapToLong(TarListing::contentBytes).sum();
    assertEquals(1, all.size());
    assertEquals(original - allContent, a.wastedBytes(), "wasted == what the full squash removed");
    assertEquals(allContent, a.outcome(0).contentBytes());

    WasteSlack slack = new WasteSlack(0, 0);
    List<byte[]> auto = squash(layout, "auto", ArchiveOptions.DEFAULT.withAuto(slack));
    int keep = a.autoKeep(slack);
    assertEquals(keep + 1, auto.size(), "auto keeps what the analysis says");
    assertEquals(a.outcome(keep).contentBytes(), auto.stream().mapToLong(TarListing::contentBytes).sum());
  }

  @org.junit.jupiter.api.Test
  void dockerArchivesAreAnalysedPerImage() throws IOException {
    Path archive = dir.resolve("images.tar");
    List<byte[]> base = List.of(layer().file("usr/lib", bytes(5_000, 1)).tar());
    List<byte[]> wasteful = new ArrayList<>(base);
    wasteful.add(layer().file("tmp/x", bytes(8_000, 2)).tar());
    wasteful.add(layer().whiteout("tmp").tar());
    TestImages.writeDockerArchive(archive, List.of(new TestImages.DockerImage(List.of("a:1"), wasteful),
        new TestImages.DockerImage(List.of("b:1"), base)));
    List<ArchiveAnalyzer.AnalyzedImage> images = new ArchiveAnalyzer().analyze(archive);
    assertEquals(List.of("a:1", "b:1"), images.stream().map(ArchiveAnalyzer.AnalyzedImage::name).toList());
    assertEquals(8_000, images.get(0).analysis().wastedBytes());
    assertEquals(0, images.get(1).analysis().wastedBytes());
  }

  @org.junit.jupiter.api.Test
  void ociArchivesAreReadLikeTheirLayout() throws IOException {
    List<byte[]> tars = List.of(layer().file("usr/lib", bytes(5_000, 1)).tar(),
        layer().file("tmp/x", bytes(8_000, 2)).tar(), layer().whiteout("tmp/x").tar());
    Path layout = dir.resolve("layout");
    TestImages.writeOciLayout(layout, Map.of("app:2", List.of(new TestImages.OciImage(tars, "amd64"),
        new TestImages.OciImage(tars.subList(0, 1), "arm64"))));
    Path archive = dir.resolve("app.oci.tar");
    TestImages.tarDirectory(layout, archive);
    List<ArchiveAnalyzer.AnalyzedImage> images = new ArchiveAnalyzer().analyze(archive);
    assertEquals(List.of("app:2 [linux/amd64]", "app:2 [linux/arm64]"),
        images.stream().map(ArchiveAnalyzer.AnalyzedImage::name).toList());
    assertEquals(8_000, images.get(0).analysis().wastedBytes());
    assertEquals(0, images.get(1).analysis().wastedBytes());
  }

  @org.junit.jupiter.api.Test
  void aBrokenLayerIsNamedWithItsImage() throws IOException {
    Path archive = dir.resolve("broken.tar");
    List<byte[]> tars = List.of(layer().file("a", bytes(3_000, 1)).tar(), layer().file("b", bytes(3_000, 2)).tar());
    TestImages.writeDockerArchive(archive, List.of(new TestImages.DockerImage(List.of("bad:1"), tars, false, 1)));
    LayoutException e = assertThrows(LayoutException.class, () -> new ArchiveAnalyzer().analyze(archive));
    assertTrue(e.getMessage().contains("image bad:1") && e.getMessage().contains("layer 1"), e.getMessage());
  }

  /** Squashes the layout and returns the result's layer tars, in order. */
  private List<byte[]> squash(Path layout, String name, ArchiveOptions options) throws IOException {
    Path out = dir.resolve(name);
    new ArchiveSquasher().squash(layout, out, options, null);
    JsonNode index = TestImages.json(Files.readAllBytes(out.resolve("index.json")));
    String manifest = index.get("manifests").get(0).get("digest").asText().substring(7);
    JsonNode m = TestImages.json(Files.readAllBytes(out.resolve("blobs/sha256/" + manifest)));
    List<byte[]> tars = new ArrayList<>();
    for (JsonNode l : m.get("layers")) {
      tars.add(TestImages.decompress(Files.readAllBytes(out.resolve("blobs/sha256/"
          + l.get("digest").asText().substring(7)))));
    }
    return tars;
  }
}
