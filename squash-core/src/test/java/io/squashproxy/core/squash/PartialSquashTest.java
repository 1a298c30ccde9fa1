package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * Squashing all but the first N layers: the squashed layer applied over the kept layers gives the original
 * file system, carries exactly the whiteouts that hide paths of the kept layers, and never a whiteout after
 * an entry it lies under.
 */
class PartialSquashTest {
  @TempDir(factory = FastTempDirs.class)
  Path work;

  /** Squashes keeping {@code keep} layers, checks equivalence and shape, returns the squashed entries. */
  private List<RefFs.Entry> squashKeeping(int keep, LayerBuilder... layers) throws IOException {
    TestImage.Builder b = TestImage.oci();
    List<byte[]> tars = new ArrayList<>();
    for (LayerBuilder l : layers) {
      tars.add(l.tar());
      b.layer(tars.get(tars.size() - 1));
    }
    TestImage img = b.build();
    Squashing.Squashed s = Squashing.squash(img, SquashOptions.DEFAULT.withKeepLayers(keep), work);
    assertTrue(s.result().squashed());
    assertEquals(keep + 1, s.result().layers().size());
    assertEquals(img.manifestJson().get("layers").get(0), TestImage.parse(s.result().manifest()).get("layers")
        .get(0), "kept layer descriptors are unchanged");
    RefFs all = RefFs.of(tars);
    RefFs result = RefFs.of(s.resultTars(img, keep));
    assertEquals("", all.view(keep).diff(result.view()), "kept layers + squashed layer == all layers");
    List<RefFs.Entry> entries = TarListing.read(s.layerTar());
    assertEquals(List.of(), LayerShape.partialSquash(entries, RefFs.of(tars.subList(0, keep))));
    return entries;
  }

  private static List<String> markers(List<RefFs.Entry> entries) {
    List<String> out = new ArrayList<>();
    for (RefFs.Entry e : entries) {
      if (e.isWhiteoutName()) {
        out.add(RefFs.clean(e.name()));
      }
    }
    return out;
  }

  @Test
  void deletingAKeptFileNeedsExactlyItsWhiteout() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().file("etc/a", "a").file("etc/b", "b"),
        layer().file("etc/c", "c"),
        layer().whiteout("etc/a"));
    assertEquals(List.of("etc/.wh.a"), markers(e));
  }

  @Test
  void pathsMadeAndDeletedInsideTheSquashedLayersNeedNoWhiteout() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().file("base", "b"),
        layer().dir("tmp").file("tmp/build", "junk").file("cache", "c"),
        layer().whiteout("tmp").whiteout("cache"));
    assertEquals(List.of(), markers(e));
  }

  @Test
  void deletingAKeptDirectoryNeedsOneWhiteoutNotOnePerChild() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().dir("d").file("d/x", "x").file("d/y", "y").dir("d/sub").file("d/sub/z", "z"),
        layer().file("keep", "k"),
        layer().whiteout("d"));
    assertEquals(List.of(".wh.d"), markers(e));
  }

  @Test
  void opaqueOverKeptChildrenIsCarried() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().dir("d").file("d/x", "x").file("d/y", "y"),
        layer().file("other", "o"),
        layer().opaque("d").file("d/new", "n"));
    List<String> m = markers(e);
    assertFalse(m.isEmpty());
    // Either one opaque marker or a whiteout per hidden child is right; both hide exactly the kept children.
    assertTrue(m.equals(List.of("d/.wh..wh..opq")) || m.equals(List.of("d/.wh.x", "d/.wh.y")), m.toString());
  }

  @Test
  void opaqueOverChildrenMadeInTheSquashedLayersNeedsNothing() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().file("base", "b"),
        layer().dir("d").file("d/x", "x"),
        layer().opaque("d").file("d/y", "y"));
    assertEquals(List.of(), markers(e));
  }

  @Test
  void keptDirectoryDeletedAndRecreated() throws IOException {
    squashKeeping(1,
        layer().dir("d").mode(0700).file("d/old", "o").dir("d/sub").file("d/sub/deep", "x"),
        layer().whiteout("d"),
        layer().dir("d").mode(0755).file("d/new", "n"));
  }

  @Test
  void keptFileTurnedIntoADirectoryDeclaredAgainLater() throws IOException {
    // The directory's entry is written where it was last declared, after its child: the kept file must
    // be whited out first, or clients would put d/child under a file.
    squashKeeping(1,
        layer().file("d", "a file"),
        layer().dir("d").file("d/child", "c"),
        layer().dir("d").mode(0700));
  }

  @Test
  void keptSymlinkTurnedIntoADirectory() throws IOException {
    // Writing d/child while d is still the kept symlink would follow it out of the tree.
    squashKeeping(1,
        layer().symlink("d", "/etc"),
        layer().dir("d").file("d/child", "c"),
        layer().file("other", "x").dir("d"));
  }

  @Test
  void hardLinkToAKeptFileRewritesTheFileSoTheNamesStayOneFile() throws IOException {
    List<RefFs.Entry> e = squashKeeping(1,
        layer().file("bin/tool", "elf").mode(0755),
        layer().hardlink("bin/alias", "bin/tool").hardlink("bin/alias2", "bin/tool"),
        layer().file("x", "x"));
    // A squashed layer cannot link to a path of a kept layer (clients refuse it): it carries the target
    // again, with its content and metadata, and links to that.
    List<String> names = e.stream().map(x -> RefFs.clean(x.name())).toList();
    int tool = names.indexOf("bin/tool");
    assertTrue(tool >= 0, names.toString());
    assertEquals('f', e.get(tool).kind());
    assertEquals("'elf'", e.get(tool).meta().content());
    for (String alias : List.of("bin/alias", "bin/alias2")) {
      int i = names.indexOf(alias);
      assertTrue(i > tool, alias + " follows its target: " + names);
      assertEquals('h', e.get(i).kind());
      assertEquals("bin/tool", RefFs.clean(e.get(i).linkName()));
    }
  }

  @Test
  void hardLinkToAKeptFileUnderAKeptSymlinkTurnedDirectory() throws IOException {
    // The content of the link comes from the kept layer, but must be written after d became a directory.
    squashKeeping(1,
        layer().file("bin", "elf").symlink("d", "/etc"),
        layer().dir("d").hardlink("d/alias", "bin"),
        layer().dir("d").mode(0700));
  }

  @Test
  void keptLayersHardLinkGroupLosesItsFirstName() throws IOException {
    squashKeeping(1,
        layer().file("a", "x").hardlink("b", "a").hardlink("c", "a"),
        layer().whiteout("a"),
        layer().file("z", "z"));
  }

  @Test
  void keepingSeveralLayers() throws IOException {
    List<RefFs.Entry> e = squashKeeping(2,
        layer().dir("etc").file("etc/passwd", "root").file("etc/group", "root"),
        layer().file("etc/hosts", "localhost").dir("var").file("var/log", "l"),
        layer().whiteout("etc/hosts").whiteout("var"),
        layer().file("etc/passwd", "root,user").opaque("etc"));
    List<String> m = markers(e);
    assertTrue(m.contains(".wh.var"), m.toString());
  }

  @Test
  void nothingToSquashReturnsTheSourceUnchanged() throws IOException {
    TestImage img = TestImage.oci().layer(layer().file("a", "a")).layer(layer().file("b", "b")).build();
    for (int keep : new int[] {1, 2, 5}) {
      Squashing.Squashed s = Squashing.squash(img, SquashOptions.DEFAULT.withKeepLayers(keep), work);
      assertFalse(s.result().squashed(), "keep " + keep);
      assertArrayEquals(img.manifest(), s.result().manifest());
      assertArrayEquals(img.config(), s.result().config());
      assertEquals(img.manifestDigest(), s.result().manifestDigest());
      assertNull(s.result().squashedLayerFile());
    }
    TestImage one = TestImage.docker().layer(layer().file("a", "a")).build();
    assertFalse(Squashing.squash(one, work).result().squashed());
    assertEquals(List.of(), Squashing.leftovers(work));
  }
}
