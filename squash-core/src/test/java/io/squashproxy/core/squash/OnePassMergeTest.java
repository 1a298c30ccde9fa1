package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The one-pass full squash ({@link OnePassMerge}): which images it does, which go to the two passes and why, and
 * that either way the file system is the original's (the rules themselves are {@link MergeRulesTest}'s).
 */
class OnePassMergeTest {

  @TempDir(factory = FastTempDirs.class)
  Path work;

  /** What image builders write: every rule a build produces, no path twice in a layer, links within a layer. */
  static List<LayerBuilder> buildLike() {
    return List.of(
        layer().dir("etc").file("etc/os-release", "debian").dir("usr").dir("usr/bin").file("usr/bin/perl", "elf")
            .mode(0755).hardlink("usr/bin/perl5.36", "usr/bin/perl").symlink("bin", "usr/bin")
            .charDevice("dev/null", 1, 3).dir("var").dir("var/lib").dir("var/lib/apt").dir("var/lib/apt/lists")
            .file("var/lib/apt/lists/a", "index").dir("opt").file("opt/old", "old").dir("tmp").mode(01777),
        layer().dir("usr/bin").file("usr/bin/tool", "tool").xattr("security.capability",
            MergeRulesTest.CAPABILITY).file("tmp/build", "1 GB of build output").file("etc/os-release", "patched"),
        layer().whiteout("tmp/build").opaque("var/lib/apt/lists").file("var/lib/apt/lists/b", "new index")
            .file("opt", "now a file").file("app/run", "#!/bin/sh").mode(0755).hardlink("app/run2", "app/run"));
  }

  @Test
  void buildLikeImageTakesOnePassAndWritesTheTopLayerFirst() throws IOException {
    List<byte[]> tars = tars(buildLike());
    Squashing.Squashed s = Squashing.squash(image(tars), work);

    assertEquals("one pass", s.result().report().method());
    assertSameFileSystem(tars, s);
    List<RefFs.Entry> entries = TarListing.read(s.layerTar());
    // Top-down: the last layer's entries come first, the base's last (a directory may follow its children).
    assertEquals("var/lib/apt/lists/b", RefFs.clean(entries.get(0).name()));
    assertEquals("tmp", RefFs.clean(entries.get(entries.size() - 1).name()));
    assertTrue(entries.stream().noneMatch(e -> e.name().contains("build") || e.name().endsWith("/a")),
        "hidden entries written: " + entries);
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  @Test
  void theSameImageGivesTheSameBytes() throws IOException {
    TestImage img = image(tars(buildLike()));
    SquashOptions gzip = SquashOptions.DEFAULT.withCompression(Compression.GZIP);
    Squashing.Squashed a = Squashing.squash(img, gzip, work.resolve("a"));
    Squashing.Squashed b = Squashing.squash(img, gzip, work.resolve("b"));
    assertEquals("one pass", a.result().report().method());
    assertEquals(a.result().squashedLayer().digest(), b.result().squashedLayer().digest());
    assertEquals(a.result().manifestDigest(), b.result().manifestDigest());
  }

  static Stream<Arguments> twoPassImages() {
    return Stream.of(
        twoPass("hard link to a file of a lower layer",
            List.of(layer().file("bin/tool", "elf"), layer().hardlink("bin/alias", "bin/tool")),
            "hard link 'bin/alias' in layer 1 to a file of a lower layer"),
        twoPass("hard link whose first name an upper layer removed",
            List.of(layer().file("a", "x").hardlink("b", "a"), layer().whiteout("a")),
            "hard link 'b' in layer 0 to a file an upper layer removed"),
        twoPass("a path twice in one layer",
            List.of(layer().file("a", "one").file("a", "two"), layer().file("b", "b")),
            "'a' appears twice in one layer"),
        twoPass("a directory and then a file over it in one layer",
            List.of(layer().file("x", "x"), layer().dir("d").file("d", "file")),
            "'d' appears twice in one layer"),
        twoPass("an implicit directory and then a file over it in one layer",
            List.of(layer().file("x", "x"), layer().dir("p/q").file("p", "file")),
            "'p/q' was written but does not survive in layer order"));
  }

  static Arguments twoPass(String name, List<LayerBuilder> layers, String reason) {
    return Arguments.of(Named.of(name, layers), reason);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("twoPassImages")
  void imagesTheOnePassCannotDoTakeTwoPasses(List<LayerBuilder> layers, String reason) throws IOException {
    List<byte[]> tars = tars(layers);
    Squashing.Squashed s = Squashing.squash(image(tars), work);
    assertEquals("two passes: " + reason, s.result().report().method());
    assertSameFileSystem(tars, s);
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  @Test
  void squashesKeepingLayersTakeTwoPasses() throws IOException {
    List<byte[]> tars = tars(buildLike());
    Squashing.Squashed s = Squashing.squash(image(tars), SquashOptions.DEFAULT.withKeepLayers(1), work);
    assertEquals("two passes: layers kept", s.result().report().method());
    assertEquals("", RefFs.of(tars).view(1).diff(RefFs.of(s.resultTars(image(tars), 1)).view()));
  }

  /** Invalid layers are refused with the error of the layer-order check, naming the layer and entry. */
  @Test
  void aLayerUnderAFileIsRefusedNamingTheLayerAndEntry() throws IOException {
    TestImage img = image(tars(List.of(layer().file("a", "x"), layer().file("a/b", "y"), layer().file("c", "c"))));
    SquashException e = assertThrows(SquashException.class, () -> Squashing.squash(img, work));
    assertTrue(e.getMessage().contains("parent 'a' is not a directory"), e.getMessage());
    assertTrue(e.getMessage().startsWith("layer 1 "), e.getMessage()); // counted from 0, as everywhere
    assertEquals("a/b", e.entry());
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  private static List<byte[]> tars(List<LayerBuilder> layers) {
    List<byte[]> tars = new ArrayList<>();
    for (LayerBuilder l : layers) {
      tars.add(l.tar());
    }
    return tars;
  }

  private static TestImage image(List<byte[]> tars) {
    TestImage.Builder b = TestImage.oci();
    tars.forEach(b::layer);
    return b.build();
  }

  private static void assertSameFileSystem(List<byte[]> tars, Squashing.Squashed s) {
    assertEquals("", RefFs.of(tars).view().diff(RefFs.of(List.of(s.layerTar())).view()));
    assertEquals(List.of(), LayerShape.fullSquash(TarListing.read(s.layerTar())));
  }
}
