package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.LayerShape;
import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TarListing;
import io.squashproxy.core.testing.TestImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One small case per layer-changeset rule (go-containerregistry's mutate tests style): tiny layers in,
 * the expected file system out. Each case checks the expected tree against the reference applier on the
 * original layers and on the squashed layer, compares every piece of metadata between the two, checks the
 * squashed tar's shape, and, for three or more layers, does the same for a squash keeping the first layer.
 */
class MergeRulesTest {
  static final byte[] CAPABILITY = {1, 0, 0, 2, 0x20, 0, 0, 0, (byte) 0xff, (byte) 0xc3, 0x28, 0, 0, 0, 0, 0,
      0, 0, 0, 0};
  static final String LONG_DIR = "d".repeat(60) + "/" + "e".repeat(60);
  static final String LONG_TARGET = "/opt/" + "t".repeat(150) + "/bin/tool";
  /** "café" in ISO-8859-1: the byte 0xE9 alone is not valid UTF-8. */
  static final String LATIN1_NAME = "caf\u00e9";

  @TempDir(factory = FastTempDirs.class)
  Path work;

  record Case(List<LayerBuilder> layers, SortedMap<String, String> expected, Set<String> linkGroups,
      Consumer<RefFs> check) {}

  static Arguments rule(String name, List<LayerBuilder> layers, String[] tree, String... linkGroups) {
    return rule(name, layers, tree, fs -> {}, linkGroups);
  }

  static Arguments rule(String name, List<LayerBuilder> layers, String[] tree, Consumer<RefFs> check,
      String... linkGroups) {
    SortedMap<String, String> expected = new TreeMap<>();
    for (int i = 0; i < tree.length; i += 2) {
      expected.put(tree[i], tree[i + 1]);
    }
    return Arguments.of(Named.of(name, new Case(layers, expected, new TreeSet<>(Arrays.asList(linkGroups)),
        check)));
  }

  static String[] tree(String... pathThenBrief) {
    return pathThenBrief;
  }

  static List<LayerBuilder> layers(LayerBuilder... l) {
    return List.of(l);
  }

  static Stream<Arguments> rules() {
    return Stream.of(
        rule("later layer wins",
            layers(layer().file("a", "one").file("b", "keep"), layer().file("a", "two")),
            tree("a", "file 'two'", "b", "file 'keep'")),
        rule("whiteout file",
            layers(layer().file("a", "x").file("b", "y"), layer().whiteout("a")),
            tree("b", "file 'y'")),
        rule("whiteout dir removes everything below it",
            layers(layer().dir("d").dir("d/e").file("d/e/f", "x").file("d/g", "y").file("h", "z"),
                layer().file("d/e/late", "l"), layer().whiteout("d")),
            tree("h", "file 'z'")),
        rule("whiteout of an implicit dir",
            layers(layer().file("p/q/r", "x").file("p/s", "y"), layer().whiteout("p/q")),
            tree("p", "dir (implicit)", "p/s", "file 'y'")),
        rule("whiteout of a path that does not exist is harmless",
            layers(layer().file("a", "x"), layer().whiteout("nothing").whiteout("a/nothing/deeper")),
            tree("a", "file 'x'")),
        rule("opaque dir hides lower children, keeps the dir",
            layers(layer().dir("d").file("d/old", "x").file("d/sub/deep", "y").file("other", "o"),
                layer().opaque("d").file("d/new", "n")),
            tree("d", "dir", "d/new", "file 'n'", "other", "file 'o'")),
        rule("opaque dir: same-layer children written before the marker survive",
            layers(layer().dir("d").file("d/old", "x"),
                layer().file("d/new", "n").dir("d/sub").file("d/sub/f", "f").opaque("d")),
            tree("d", "dir", "d/new", "file 'n'", "d/sub", "dir", "d/sub/f", "file 'f'")),
        rule("opaque dir: a lower child re-added in the same layer survives",
            layers(layer().dir("d").file("d/a", "old").file("d/b", "old"),
                layer().file("d/a", "new").opaque("d")),
            tree("d", "dir", "d/a", "file 'new'")),
        rule("opaque at the root",
            layers(layer().file("a", "x").dir("d").file("d/e", "y"), layer().file("b", "b").opaque("")),
            tree("b", "file 'b'")),
        rule("whiteout applies only to lower layers (whiteout after the entry)",
            layers(layer().file("a", "old"), layer().file("a", "new").whiteout("a")),
            tree("a", "file 'new'")),
        rule("whiteout applies only to lower layers (whiteout before the entry)",
            layers(layer().dir("d").file("d/x", "old"), layer().whiteout("d").dir("d").file("d/y", "new")),
            tree("d", "dir", "d/y", "file 'new'")),
        rule("whiteout then same-layer child: the dir becomes implicit",
            layers(layer().dir("d").file("d/x", "old"), layer().file("d/y", "new").whiteout("d")),
            tree("d", "dir (implicit)", "d/y", "file 'new'")),
        rule("type change file -> dir",
            layers(layer().file("a", "x"), layer().dir("a").file("a/b", "y")),
            tree("a", "dir", "a/b", "file 'y'")),
        rule("type change dir -> file hides everything below",
            layers(layer().dir("d").file("d/x", "x").dir("d/e").file("d/e/f", "f"), layer().file("d", "now a file")),
            tree("d", "file 'now a file'")),
        rule("type change file -> symlink",
            layers(layer().file("a", "x"), layer().symlink("a", "/etc/target")),
            tree("a", "symlink -> /etc/target")),
        rule("type change symlink -> file",
            layers(layer().symlink("a", "b").file("b", "target"), layer().file("a", "own")),
            tree("a", "file 'own'", "b", "file 'target'")),
        rule("type change dir -> symlink hides everything below",
            layers(layer().dir("d").file("d/x", "x"), layer().symlink("d", "/elsewhere")),
            tree("d", "symlink -> /elsewhere")),
        rule("type change symlink -> dir",
            layers(layer().symlink("d", "/elsewhere"), layer().dir("d").file("d/x", "x")),
            tree("d", "dir", "d/x", "file 'x'")),
        rule("type change implicit dir -> file hides everything below",
            layers(layer().file("p/q", "x").file("p/r/s", "y"), layer().file("p", "file")),
            tree("p", "file 'file'")),
        rule("type change implicit dir -> file, then dir again: old children stay gone",
            layers(layer().file("p/q", "x"), layer().file("p", "file"), layer().dir("p").file("p/new", "n")),
            tree("p", "dir", "p/new", "file 'n'")),
        rule("whiteout, same-layer child, then file over the implicit dir",
            layers(layer().dir("d").file("d/old", "o"), layer().symlink("d/s", "t").whiteout("d").file("d", "f"),
                layer().dir("d")),
            tree("d", "dir")),
        rule("hard link whose target is overwritten later keeps its content",
            layers(layer().file("a", "orig").hardlink("b", "a"), layer().file("a", "new")),
            tree("a", "file 'new'", "b", "file 'orig'")),
        rule("hard link whose target is deleted later keeps its content",
            layers(layer().file("a", "orig").hardlink("b", "a"), layer().whiteout("a")),
            tree("b", "file 'orig'")),
        rule("hard link group whose first member is deleted stays one group",
            layers(layer().file("a", "x").hardlink("b", "a").hardlink("c", "a").hardlink("d", "./a"),
                layer().whiteout("a")),
            tree("b", "file 'x'", "c", "file 'x'", "d", "file 'x'"), "b = c = d"),
        rule("hard link across layers",
            layers(layer().file("bin/tool", "elf"), layer().hardlink("bin/alias", "bin/tool")),
            tree("bin", "dir (implicit)", "bin/alias", "file 'elf'", "bin/tool", "file 'elf'"),
            "bin/alias = bin/tool"),
        rule("hard link to a path replaced in the same layer after the link",
            layers(layer().file("a", "orig"), layer().hardlink("b", "a").file("a", "new")),
            tree("a", "file 'new'", "b", "file 'orig'")),
        rule("hard link whose target's directory is deleted later",
            layers(layer().dir("d").file("d/a", "x").hardlink("keep/b", "d/a"), layer().whiteout("d")),
            tree("keep", "dir (implicit)", "keep/b", "file 'x'")),
        rule("hard link group re-linked in a later layer",
            layers(layer().file("a", "x").hardlink("b", "a"), layer().hardlink("a2", "b"), layer().whiteout("a")),
            tree("a2", "file 'x'", "b", "file 'x'"), "a2 = b"),
        rule("implicit parent directories",
            layers(layer().file("a/b/c", "x"), layer().file("a/b/d", "y")),
            tree("a", "dir (implicit)", "a/b", "dir (implicit)", "a/b/c", "file 'x'", "a/b/d", "file 'y'")),
        rule("./ prefixes, doubled slashes and duplicate entries",
            layers(layer().dir("./").file("./a", "one").file("a", "two").dir("./d/").file("d//e", "x")
                .file("./d/./e", "y"), layer().file("./f", "f").dir("d")),
            tree("", "dir", "a", "file 'two'", "d", "dir", "d/e", "file 'y'", "f", "file 'f'")),
        rule("setuid, setgid and sticky bits are kept",
            layers(layer().file("bin/su", "su").mode(04755).file("bin/wall", "w").mode(02755).dir("tmp").mode(01777)
                .file("bin/all", "a").mode(07777), layer().file("other", "o")),
            tree("bin", "dir (implicit)", "bin/all", "file 'a'", "bin/su", "file 'su'", "bin/wall", "file 'w'",
                "other", "file 'o'", "tmp", "dir"),
            fs -> {
              assertEquals(04755, fs.meta("bin/su").mode());
              assertEquals(02755, fs.meta("bin/wall").mode());
              assertEquals(01777, fs.meta("tmp").mode());
              assertEquals(07777, fs.meta("bin/all").mode());
            }),
        rule("uid/gid above 2097151 (PAX) and long user/group names",
            layers(layer().file("a", "x").owner(3_000_000L, 4_000_000_000L).names("u".repeat(40), "g".repeat(33)),
                layer().file("b", "y").owner(2_097_152L, 2_097_151L)),
            tree("a", "file 'x'", "b", "file 'y'"),
            fs -> {
              assertEquals(3_000_000L, fs.meta("a").uid());
              assertEquals(4_000_000_000L, fs.meta("a").gid());
              assertEquals("u".repeat(40), fs.meta("a").uname());
              assertEquals("g".repeat(33), fs.meta("a").gname());
              assertEquals(2_097_152L, fs.meta("b").uid());
            }),
        rule("long names and long link targets",
            layers(layer().file(LONG_DIR + "/file-with-a-long-name", "x").symlink("short", LONG_TARGET)
                .hardlink(LONG_DIR + "/hard", LONG_DIR + "/file-with-a-long-name"),
                layer().symlink(LONG_DIR + "/sym", LONG_TARGET)),
            tree("d".repeat(60), "dir (implicit)", LONG_DIR, "dir (implicit)",
                LONG_DIR + "/file-with-a-long-name", "file 'x'", LONG_DIR + "/hard", "file 'x'",
                LONG_DIR + "/sym", "symlink -> " + LONG_TARGET, "short", "symlink -> " + LONG_TARGET),
            LONG_DIR + "/file-with-a-long-name = " + LONG_DIR + "/hard"),
        rule("devices and fifos",
            layers(layer().dir("dev").charDevice("dev/null", 1, 3).blockDevice("dev/sda", 8, 0).fifo("dev/pipe")
                .charDevice("dev/big", 4095, 1048575),
                layer().fifo("dev/pipe2").charDevice("dev/zero", 1, 5)),
            tree("dev", "dir", "dev/big", "char 4095,1048575", "dev/null", "char 1,3", "dev/pipe", "fifo",
                "dev/pipe2", "fifo", "dev/sda", "block 8,0", "dev/zero", "char 1,5")),
        rule("binary xattr security.capability survives byte-exact",
            layers(layer().file("bin/ping", "ping").xattr("security.capability", CAPABILITY)
                .xattr("user.text", "plain").dir("d").xattr("trusted.bin", new byte[] {(byte) 0xff, 0, 0x0a}),
                layer().file("other", "o")),
            tree("bin", "dir (implicit)", "bin/ping", "file 'ping'", "d", "dir", "other", "file 'o'"),
            fs -> {
              assertEquals(TarListing.show(CAPABILITY), fs.meta("bin/ping").xattrs().get("security.capability"));
              assertEquals("'plain'", fs.meta("bin/ping").xattrs().get("user.text"));
              assertEquals("0xff000a", fs.meta("d").xattrs().get("trusted.bin"));
            }),
        rule("non-UTF-8 file names",
            layers(layer().file(LATIN1_NAME, "x").dir("\u00ff\u00fe").file("\u00ff\u00fe/" + LATIN1_NAME, "y")
                .file(LONG_DIR + "/" + LATIN1_NAME, "long"),
                layer().whiteout(LATIN1_NAME).file("\u00ff\u00fe/n\u00e4me", "z")),
            tree("d".repeat(60), "dir (implicit)", LONG_DIR, "dir (implicit)", LONG_DIR + "/" + LATIN1_NAME,
                "file 'long'", "\u00ff\u00fe", "dir", "\u00ff\u00fe/" + LATIN1_NAME, "file 'y'",
                "\u00ff\u00fe/n\u00e4me", "file 'z'")),
        rule("mtime with PAX fractional seconds is kept",
            layers(layer().file("a", "x").paxMtime("1700000000.123456789").dir("d").paxMtime("1600000000.5"),
                layer().file("b", "y").mtime(1_234_567_890L)),
            tree("a", "file 'x'", "b", "file 'y'", "d", "dir"),
            fs -> {
              assertEquals("1700000000.123456789", fs.meta("a").mtime());
              assertEquals("1600000000.5", fs.meta("d").mtime());
              assertEquals("1234567890", fs.meta("b").mtime());
            }),
        rule("directory metadata comes from the last declaration, children kept",
            layers(layer().dir("d").mode(0700).owner(1, 1).file("d/x", "x"), layer().dir("d").mode(0755).owner(2, 2)),
            tree("d", "dir", "d/x", "file 'x'"),
            fs -> {
              assertEquals(0755, fs.meta("d").mode());
              assertEquals(2, fs.meta("d").uid());
            }),
        rule("AUFS metadata entries carry no meaning",
            layers(layer().file("a", "x"), layer().entry(TarEntry.of(".wh..wh.aufs", TarType.REGULAR, 0, 0), new byte[0])
                .entry(TarEntry.of(".wh..wh.plnk/", TarType.DIRECTORY, 0700, 0), null)),
            tree("a", "file 'x'")));
  }

  /** Tiny chunks, so the tiny fixtures' files are split into several members too. */
  static final Compression ESTARGZ = Compression.parse("estargz:1:7");

  /** Every rule with gzip output and with eStargz (checked as such by {@link Squashing}). */
  static Stream<Arguments> rulesAsGzipAndEstargz() {
    return rules().flatMap(a -> {
      @SuppressWarnings("unchecked")
      Named<Case> rule = (Named<Case>) a.get()[0];
      return Stream.of(Compression.GZIP, ESTARGZ).map(c -> Arguments.of(
          Named.of(rule.getName() + " [" + c.algorithm().name().toLowerCase(java.util.Locale.ROOT) + "]",
              rule.getPayload()), c));
    });
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rulesAsGzipAndEstargz")
  void squashFollowsTheRule(Case c, Compression compression) throws IOException {
    TestImage.Builder b = TestImage.oci();
    List<byte[]> tars = new ArrayList<>();
    for (LayerBuilder l : c.layers()) {
      byte[] tar = l.tar();
      tars.add(tar);
      b.layer(tar);
    }
    TestImage img = b.build();

    // The reference on the original layers gives the expected tree: the case and the reference agree.
    RefFs all = RefFs.of(tars);
    assertEquals(c.expected(), all.view().brief(), "reference applier on the original layers");
    assertEquals(c.linkGroups(), all.view().linkGroups(), "hard link groups of the original layers");
    c.check().accept(all);

    SquashOptions options = SquashOptions.DEFAULT.withCompression(compression);
    Squashing.Squashed full = Squashing.squash(img, options, work);
    RefFs squashed = RefFs.of(List.of(full.layerTar()));
    assertEquals(c.expected(), squashed.view().brief(), "squashed layer");
    assertEquals("", all.view().diff(squashed.view()), "metadata of the squashed layer");
    c.check().accept(squashed);
    List<RefFs.Entry> entries = TarListing.read(full.layerTar());
    assertEquals(List.of(), LayerShape.fullSquash(entries), "shape of the squashed layer");

    if (tars.size() >= 3) {
      Squashing.Squashed part = Squashing.squash(img, options.withKeepLayers(1), work);
      RefFs result = RefFs.of(part.resultTars(img, 1));
      assertEquals("", all.view(1).diff(result.view()), "squash keeping the first layer");
      assertEquals(List.of(), LayerShape.partialSquash(TarListing.read(part.layerTar()),
          RefFs.of(tars.subList(0, 1))), "shape of the squashed layer keeping the first layer");
    }
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  /** Link entries come after their target and carry the target's metadata, even when the target moved. */
  @Test
  void linkEntriesFollowTheirTargetAndCarryItsMetadata() throws IOException {
    TestImage img = TestImage.oci()
        .layer(layer().file("a", "content").mode(04750).owner(1000, 2000).names("alice", "staff")
            .paxMtime("1700000000.25").xattr("security.capability", CAPABILITY)
            .hardlink("b", "a").hardlink("c", "a"))
        .layer(layer().whiteout("a").file("z", "z"))
        .build();
    Squashing.Squashed s = Squashing.squash(img, work);
    List<TarEntry> entries = readWithTarReader(s.layerTar());
    Map<String, TarEntry> byName = new TreeMap<>();
    List<String> order = new ArrayList<>();
    for (TarEntry e : entries) {
      byName.put(RefFs.clean(e.name()), e);
      order.add(RefFs.clean(e.name()));
    }
    TarEntry b = byName.get("b");
    TarEntry c = byName.get("c");
    assertEquals(TarType.REGULAR, b.type(), "the first surviving name carries the content");
    assertEquals(TarType.HARDLINK, c.type());
    assertEquals("b", RefFs.clean(c.linkName()));
    assertTrue(order.indexOf("b") < order.indexOf("c"), "link after its target: " + order);
    for (TarEntry e : List.of(b, c)) {
      assertEquals(04750, e.mode());
      assertEquals(1000, e.uid());
      assertEquals(2000, e.gid());
      assertEquals("alice", e.uname());
      assertEquals("staff", e.gname());
      assertEquals(1_700_000_000L, e.mtime());
      assertArrayEquals("1700000000.25".getBytes(StandardCharsets.US_ASCII), e.pax().get("mtime"));
      assertArrayEquals(CAPABILITY, e.xattrs().get("security.capability"), "xattr bytes of " + e.name());
    }
  }

  /** The binary xattr read back with squash-core's own reader too: not one byte changed. */
  @Test
  void binaryXattrBytesSurviveExactly() throws IOException {
    byte[] invalidUtf8 = {(byte) 0xc3, 0x28, (byte) 0xa0, (byte) 0xa1, (byte) 0xe2, 0x28, (byte) 0xa1, 0, 0x0a,
        (byte) 0xf0, (byte) 0x90, 0x28, (byte) 0xbc, '=', ' ', '\n'};
    TestImage img = TestImage.docker()
        .layer(layer().file("bin/tool", "elf").xattr("security.capability", invalidUtf8))
        .layer(layer().file("etc/conf", "c"))
        .build();
    Squashing.Squashed s = Squashing.squash(img, SquashOptions.DEFAULT.withCompression(Compression.ZSTD), work);
    TarEntry tool = readWithTarReader(s.layerTar()).stream()
        .filter(e -> RefFs.clean(e.name()).equals("bin/tool")).findFirst().orElseThrow();
    assertArrayEquals(invalidUtf8, tool.xattrs().get("security.capability"));
  }

  static List<TarEntry> readWithTarReader(byte[] tar) throws IOException {
    List<TarEntry> out = new ArrayList<>();
    try (TarReader r = new TarReader(new ByteArrayInputStream(tar))) {
      for (TarEntry e = r.next(); e != null; e = r.next()) {
        out.add(e);
      }
    }
    return out;
  }
}
