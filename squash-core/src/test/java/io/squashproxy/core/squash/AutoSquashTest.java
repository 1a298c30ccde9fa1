package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.LayerShape;
import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TarListing;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mode: auto}, rule by rule: which layers it keeps, that kept + squashed layers give the original file
 * system with the shape clients accept, and that the waste analysis predicts the content it writes.
 */
class AutoSquashTest {
  /** 100 bytes or 1%: small enough that the tiny fixtures below cross it on purpose. */
  private static final WasteSlack SLACK = new WasteSlack(100, 1);

  @TempDir(factory = FastTempDirs.class)
  Path work;

  /** The squashed layer's compression; {@link AutoSquashEstargzTest} runs every case with eStargz. */
  Compression output() {
    return Compression.GZIP;
  }

  private static byte[] bytes(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (i * 31 + 7);
    }
    return b;
  }

  private record Auto(TestImage image, Squashing.Squashed squashed, WasteAnalysis analysis, int kept,
      List<RefFs.Entry> entries) {}

  /** Squashes with {@code auto} and checks what holds for every image; {@code kept} is -1 when left whole. */
  private Auto auto(LayerBuilder... layers) throws IOException {
    TestImage.Builder b = TestImage.oci();
    List<byte[]> tars = new ArrayList<>();
    for (LayerBuilder l : layers) {
      tars.add(l.tar());
      b.layer(tars.get(tars.size() - 1));
    }
    TestImage img = b.build();
    WasteAnalysis analysis = new Squasher().analyze(img.manifest(), img.blobs(), Long.MAX_VALUE);
    Squashing.Squashed s = Squashing.squash(img, SquashOptions.auto(SLACK, output(), Long.MAX_VALUE), work);
    if (!s.result().squashed()) {
      assertArrayEquals(img.manifest(), s.result().manifest(), "an image left whole is served byte-exact");
      assertEquals(img.manifestDigest(), s.result().manifestDigest());
      return new Auto(img, s, analysis, -1, List.of());
    }
    int keep = s.result().layers().size() - 1;
    assertEquals(analysis.autoKeep(SLACK), keep, "the squash keeps what the analysis decides");
    RefFs all = RefFs.of(tars);
    assertEquals("", all.view(keep).diff(RefFs.of(s.resultTars(img, keep)).view()),
        "kept layers + squashed layer == all layers");
    List<RefFs.Entry> entries = TarListing.read(s.layerTar());
    assertEquals(List.of(), LayerShape.partialSquash(entries, RefFs.of(tars.subList(0, keep))));
    long content = TarListing.contentBytes(s.layerTar());
    for (byte[] tar : tars.subList(0, keep)) {
      content += TarListing.contentBytes(tar);
    }
    assertEquals(analysis.outcome(keep).contentBytes(), content, "predicted content == written content");
    for (int i = 0; i < keep; i++) {
      assertEquals(img.manifestJson().get("layers").get(i),
          TestImage.parse(s.result().manifest()).get("layers").get(i), "kept layer " + i + " is unchanged");
    }
    return new Auto(img, s, analysis, keep, entries);
  }

  private static List<String> markers(List<RefFs.Entry> entries) {
    return entries.stream().filter(RefFs.Entry::isWhiteoutName).map(e -> RefFs.clean(e.name())).toList();
  }

  @Test
  void wasteOnlyInTheTopLayersKeepsEverythingBelow() throws IOException {
    Auto a = auto(
        layer().dir("usr").file("usr/libc", bytes(4000)),
        layer().dir("app").file("app/deps", bytes(3000)),
        layer().dir("tmp").file("tmp/build.tar", bytes(50_000)),
        layer().whiteout("tmp/build.tar").file("app/bin", bytes(500)));
    assertEquals(2, a.kept());
    assertEquals(50_000, a.analysis().layers().get(2).wastedBytes());
    assertEquals(java.util.Map.of(3, 50_000L), a.analysis().layers().get(2).wastedBy());
    assertEquals(List.of(), markers(a.entries()), "nothing of the kept layers is hidden");
  }

  @Test
  void wasteInTheMiddleSquashesFromThere() throws IOException {
    Auto a = auto(
        layer().file("base", bytes(4000)),
        layer().file("cache/index", bytes(20_000)),
        layer().file("app", bytes(1000)),
        layer().whiteout("cache"));
    assertEquals(1, a.kept());
    assertEquals(List.of(), markers(a.entries()), "the deleted cache was made in the squashed layers");
    assertFalse(TarListing.read(a.squashed().layerTar()).stream().anyMatch(e -> e.name().contains("cache")));
  }

  @Test
  void smallWasteInTheBaseWithinTheSlackKeepsTheBase() throws IOException {
    // The base's dpkg status is rewritten by the next layer: 80 bytes of waste, within the slack.
    Auto a = auto(
        layer().dir("var").file("var/status", bytes(80)).file("usr/lib", bytes(9000)),
        layer().file("var/status", bytes(90)).file("tmp/junk", bytes(5000)),
        layer().whiteout("tmp/junk"));
    assertEquals(1, a.kept());
    assertEquals(80, a.analysis().layers().get(0).wastedBytes());
  }

  @Test
  void wasteInTheBaseOverTheSlackSquashesEverything() throws IOException {
    Auto a = auto(
        layer().file("usr/big", bytes(8000)).file("usr/lib", bytes(1000)),
        layer().whiteout("usr/big"),
        layer().file("app", bytes(10)));
    assertEquals(0, a.kept());
    assertEquals(1, a.squashed().result().layers().size());
    assertEquals(List.of(), markers(a.entries()));
  }

  @Test
  void nothingWastedIsServedUnchanged() throws IOException {
    Auto a = auto(
        layer().file("usr/lib", bytes(5000)),
        layer().file("app/deps", bytes(3000)),
        layer().file("app/bin", bytes(200)));
    assertEquals(-1, a.kept());
    assertEquals(0, a.analysis().wastedBytes());
    assertEquals(a.image().configDigest(), a.squashed().result().configDigest());
  }

  @Test
  void wasteOnlyInTheTopLayerLeavesTheImageWhole() throws IOException {
    // A path written twice within the top layer: nothing to merge it with.
    Auto a = auto(
        layer().file("usr/lib", bytes(5000)),
        layer().file("x", bytes(3000)).file("x", bytes(10)));
    assertEquals(-1, a.kept());
    assertEquals(3000, a.analysis().layers().get(1).wastedBytes());
  }

  @Test
  void whiteoutsAndOpaqueDirsInTheSquashedPartHideKeptPaths() throws IOException {
    // Small deletions in the base (within the slack) still have to be carried as markers.
    Auto a = auto(
        layer().dir("etc").file("etc/motd", bytes(20)).dir("opt").file("opt/a", bytes(10)).file("opt/b", bytes(10))
            .file("usr/lib", bytes(9000)),
        layer().file("build/out", bytes(6000)),
        layer().whiteout("etc/motd").opaque("opt").file("opt/c", bytes(5)).whiteout("build"));
    assertEquals(1, a.kept());
    List<String> m = markers(a.entries());
    assertTrue(m.contains("etc/.wh.motd"), m.toString());
    assertTrue(m.contains("opt/.wh..wh..opq") || m.containsAll(List.of("opt/.wh.a", "opt/.wh.b")), m.toString());
  }

  @Test
  void hardLinkInTheSquashedPartToAKeptFile() throws IOException {
    Auto a = auto(
        layer().file("usr/bin/tool", bytes(3000)),
        layer().file("tmp/big", bytes(4000)),
        layer().whiteout("tmp").hardlink("usr/bin/alias", "usr/bin/tool"));
    assertEquals(1, a.kept());
    // The link's target is written again in the squashed layer (clients need it earlier in the same tar): the
    // prediction counts it, so the figures stay exact.
    assertEquals(3000, a.analysis().outcome(1).contentBytes() - a.analysis().layers().get(0).contentBytes());
  }

  @Test
  void typeChangeHidesEverythingBelowTheOldPath() throws IOException {
    Auto a = auto(
        layer().file("keep", bytes(3000)),
        layer().dir("d").file("d/x", bytes(2000)).file("d/y", bytes(2000)),
        layer().file("d", bytes(10)));
    assertEquals(1, a.kept());
    assertEquals(4000, a.analysis().layers().get(1).wastedBytes());
    assertEquals(List.of(new WasteAnalysis.WastedFile("d/x", 2000, 1, 2), new WasteAnalysis.WastedFile("d/y", 2000, 1,
        2)), a.analysis().largestWasted());
  }

  @Test
  void aFileStillNamedByAHardLinkIsNotWasted() throws IOException {
    WasteAnalysis w = auto(
        layer().file("a", bytes(3000)).hardlink("b", "a"),
        layer().whiteout("a")).analysis();
    assertEquals(0, w.wastedBytes());
  }

  @Test
  void theSameImageSquashedTwiceGivesTheSameBytes() throws IOException {
    LayerBuilder[] layers = {
        layer().file("base", bytes(4000)),
        layer().file("tmp/x", bytes(9000)),
        layer().whiteout("tmp")};
    Auto one = auto(layers);
    Auto two = auto(layers);
    assertArrayEquals(one.squashed().result().manifest(), two.squashed().result().manifest());
    assertArrayEquals(one.squashed().layerBlob(), two.squashed().layerBlob());
  }

  @Test
  void aSharedBaseIsReadOnceThroughTheIndexStore() throws IOException {
    LayerIndexStore store = LayerIndexStore.inMemory(16);
    LayerBuilder base = layer().file("usr/lib", bytes(5000));
    TestImage first = TestImage.oci().layer(base).layer(layer().file("tmp/x", bytes(9000)))
        .layer(layer().whiteout("tmp")).build();
    TestImage second = TestImage.oci().layer(base).layer(layer().file("app", bytes(100)))
        .layer(layer().file("tmp/y", bytes(9000))).layer(layer().whiteout("tmp")).build();
    SquashOptions options = SquashOptions.auto(SLACK, output(), Long.MAX_VALUE);
    io.squashproxy.core.testing.MemoryBlobSource blobs1 = first.blobs();
    new Squasher(SquashListener.NONE, io.squashproxy.core.layer.CompressionPool.shared(), store)
        .squash(first.manifest(), blobs1, options, work).deleteLayerFile();
    io.squashproxy.core.testing.MemoryBlobSource blobs2 = second.blobs();
    SquashResult r = new Squasher(SquashListener.NONE, io.squashproxy.core.layer.CompressionPool.shared(), store)
        .squash(second.manifest(), blobs2, options, work);
    r.deleteLayerFile();
    assertEquals(3, r.layers().size(), "base and app kept, squashed from the wasteful layer: " + r.layers());
    assertEquals(0, blobs2.opens(second.layerDigests().get(0)), "the shared base was not read again");
  }
}
