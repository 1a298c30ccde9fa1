package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerShape;
import io.squashproxy.core.testing.RandomImages;
import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TarListing;
import io.squashproxy.core.testing.TestImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Property test: for many random layer stacks, the file system a client gets from the squashed image is
 * the one it gets from the original image, by an independent reference applier ({@link RefFs}), and the
 * squashed layer has the shape clients need. Every failure names its seed; rerun one with
 * {@code -Dsquash.seed=N}.
 */
class DifferentialSquashTest {
  private static final int IMAGES = Integer.getInteger("squash.images", 300);
  /** How the full squashes were made ("one pass", "two passes: why"), counted. */
  private static final java.util.Map<String, Integer> METHODS = new java.util.TreeMap<>();
  /** What the auto squashes did: left the image whole, squashed it all, or kept some layers. */
  private static final java.util.Map<String, Integer> AUTO = new java.util.TreeMap<>();

  @TempDir(factory = FastTempDirs.class)
  Path work;

  /**
   * Output compressions: the first run mostly uncompressed (fast) with some gzip; the second eStargz with small
   * and default chunk sizes (each blob checked as eStargz by {@link Squashing}) on a third as many images.
   */
  private static final Compression[] ESTARGZ = {Compression.parse("estargz:1:64"),
      Compression.parse("estargz:1:1000"), Compression.parse("estargz:1:65536"), new Compression(
      Compression.Algorithm.ESTARGZ, 1)};

  @ParameterizedTest(name = "output {0}")
  @ValueSource(strings = {"mostly uncompressed", "estargz"})
  void squashedImagesYieldTheSameFileSystem(String output) throws Exception {
    boolean estargz = output.equals("estargz");
    int images = estargz ? Math.max(1, IMAGES / 3) : IMAGES;
    METHODS.clear();
    AUTO.clear();
    List<String> failures = new ArrayList<>();
    long only = Long.getLong("squash.seed", -1L);
    long first = only >= 0 ? only : 0;
    long last = only >= 0 ? only : images - 1;
    for (long seed = first; seed <= last && failures.size() < 5; seed++) {
      String failure = check(seed, estargz);
      if (failure != null) {
        failures.add(failure);
      }
    }
    if (!failures.isEmpty()) {
      fail(failures.size() + " failing seed(s) (rerun one with -Dsquash.seed=N):\n"
          + String.join("\n\n", failures));
    }
    System.out.println("full squashes by method: " + METHODS);
    if (only < 0) {
      // Both ways are compared with the reference: build-like images mostly take the one pass, the rest (hard
      // links across layers, a path twice in a layer) the two passes.
      int onePass = METHODS.getOrDefault("one pass", 0);
      assertTrue(onePass >= images / 4, "only " + onePass + " of " + images + " in one pass: " + METHODS);
      assertTrue(onePass < images, "no image took the two passes: " + METHODS);
      System.out.println("auto squashes: " + AUTO);
      for (String kind : List.of("unchanged", "all squashed", "kept some")) {
        assertTrue(AUTO.getOrDefault(kind, 0) >= images / 20, "auto: too few '" + kind + "': " + AUTO);
      }
    }
  }

  private String check(long seed, boolean estargz) {
    // Every other image looks like what builders write (the one-pass squash's case); the rest also have paths
    // twice in a layer and hard links across layers (the two-pass squash's).
    RandomImages.Generated g = RandomImages.generate(seed, seed % 2 == 0);
    Random r = new Random(seed * 31 + 7);
    String stage = "generating";
    try {
      RefFs all = RefFs.of(g.tars());
      // The tars as written (TarWriter) and read back (Commons Compress) must describe what the generator
      // meant; otherwise the comparison below would be meaningless.
      String codec = g.state().view().diff(all.view());
      if (!codec.isEmpty()) {
        return "seed " + seed + ": layers read back differ from what was generated:\n" + codec + g.log();
      }
      // Mostly uncompressed to keep the test fast; compression has tests of its own.
      Compression.Algorithm[] algs = {Compression.Algorithm.NONE, Compression.Algorithm.NONE,
          Compression.Algorithm.GZIP, Compression.Algorithm.ZSTD};
      Compression.Algorithm alg = algs[r.nextInt(algs.length)];
      TestImage.Builder b = r.nextBoolean() ? TestImage.oci() : TestImage.docker();
      for (byte[] tar : g.tars()) {
        b.compression(r.nextInt(4) == 0 ? algs[r.nextInt(algs.length)] : alg).layer(tar);
      }
      TestImage img = b.build();
      int n = g.tars().size();

      stage = "full squash";
      int pick = r.nextInt(4);
      Compression out = estargz ? ESTARGZ[pick]
          : pick != 0 ? Compression.NONE : new Compression(Compression.Algorithm.GZIP, 1);
      Squashing.Squashed full = Squashing.squash(img, new SquashOptions(0, out, Long.MAX_VALUE),
          work.resolve("s" + seed));
      METHODS.merge(full.result().report().method().replaceAll("'[^']*'", "X").replaceAll("layer [0-9]+", "layer N"),
          1, Integer::sum);
      stage = "full squash: reading and applying the squashed layer (invalid for clients?)";
      List<RefFs.Entry> entries = TarListing.read(full.layerTar());
      List<String> shape = LayerShape.fullSquash(entries);
      String diff = all.view().diff(RefFs.of(List.of(full.layerTar())).view());
      if (!shape.isEmpty() || !diff.isEmpty()) {
        return "seed " + seed + " (full squash of " + n + " layers):\n" + diff + String.join("\n", shape)
            + "\n" + g.log() + "squashed layer:\n" + listing(entries);
      }
      if (n >= 3) {
        int keep = 1 + r.nextInt(n - 2);
        stage = "partial squash keeping " + keep;
        Squashing.Squashed part = Squashing.squash(img, new SquashOptions(keep, out, Long.MAX_VALUE),
            work.resolve("p" + seed));
        stage = "squash keeping " + keep + ": applying kept + squashed layers (invalid for clients?)";
        List<RefFs.Entry> pEntries = TarListing.read(part.layerTar());
        RefFs kept = RefFs.of(g.tars().subList(0, keep));
        List<String> pShape = LayerShape.partialSquash(pEntries, kept);
        String pDiff = all.view(keep).diff(RefFs.of(part.resultTars(img, keep)).view());
        if (!pShape.isEmpty() || !pDiff.isEmpty()) {
          return "seed " + seed + " (squash keeping " + keep + " of " + n + " layers):\n" + pDiff
              + String.join("\n", pShape) + "\n" + g.log() + "squashed layer:\n" + listing(pEntries);
        }
      }
      stage = "waste analysis";
      WasteAnalysis analysis = new Squasher().analyze(img.manifest(), img.blobs(), Long.MAX_VALUE);
      long fullContent = TarListing.contentBytes(full.layerTar());
      if (analysis.outcome(0).contentBytes() != fullContent
          || analysis.contentBytes() - analysis.wastedBytes() != fullContent) {
        return "seed " + seed + ": analysis predicts " + analysis.outcome(0).contentBytes() + " content bytes and "
            + analysis.wastedBytes() + " wasted of " + analysis.contentBytes() + ", the full squash wrote "
            + fullContent + "\n" + g.log();
      }
      String auto = checkAuto(seed, r, img, g, all, analysis, out);
      if (auto != null) {
        return auto;
      }
      List<Path> left = new ArrayList<>(Squashing.leftovers(work.resolve("s" + seed)));
      left.addAll(Squashing.leftovers(work.resolve("p" + seed)));
      left.addAll(Squashing.leftovers(work.resolve("a" + seed)));
      assertTrue(left.isEmpty(), "files left in the work dir: " + left);
      return null;
    } catch (Exception | AssertionError e) {
      StringBuilder sb = new StringBuilder(e.toString());
      StackTraceElement[] st = e.getStackTrace();
      for (int i = 0; i < Math.min(12, st.length); i++) {
        sb.append("\n    at ").append(st[i]);
      }
      return "seed " + seed + " (" + stage + "): " + sb + "\n" + g.log();
    }
  }

  /**
   * {@code mode: auto} with a random slack: keeps what the analysis says, gives the original's file system,
   * has a partial squash's shape, writes the content the analysis predicts, and leaves an image it keeps whole
   * byte-exact.
   */
  private String checkAuto(long seed, Random r, TestImage img, RandomImages.Generated g, RefFs all,
      WasteAnalysis analysis, Compression out) throws Exception {
    WasteSlack slack = new WasteSlack(r.nextInt(3) == 0 ? 0 : r.nextInt(64), r.nextBoolean() ? 0 : 5);
    int keep = analysis.autoKeep(slack);
    int n = g.tars().size();
    Squashing.Squashed auto = Squashing.squash(img, SquashOptions.auto(slack, out, Long.MAX_VALUE),
        work.resolve("a" + seed));
    String where = "seed " + seed + " (auto, " + slack + ", analysis keeps " + keep + " of " + n + "): ";
    AUTO.merge(!auto.result().squashed() ? "unchanged" : keep == 0 ? "all squashed" : "kept some", 1, Integer::sum);
    if (!auto.result().squashed()) {
      boolean same = java.util.Arrays.equals(img.manifest(), auto.result().manifest());
      return keep >= n - 1 && same ? null : where + "left unchanged (same bytes: " + same + ")\n" + g.log();
    }
    int kept = auto.result().layers().size() - 1;
    if (kept != keep) {
      return where + "the squash kept " + kept + "\n" + g.log();
    }
    List<RefFs.Entry> entries = TarListing.read(auto.layerTar());
    List<String> shape = LayerShape.partialSquash(entries, RefFs.of(g.tars().subList(0, keep)));
    String diff = all.view(keep).diff(RefFs.of(auto.resultTars(img, keep)).view());
    long content = TarListing.contentBytes(auto.layerTar());
    for (byte[] tar : g.tars().subList(0, keep)) {
      content += TarListing.contentBytes(tar);
    }
    long predicted = analysis.outcome(keep).contentBytes();
    if (!shape.isEmpty() || !diff.isEmpty() || content != predicted) {
      return where + diff + String.join("\n", shape) + "\ncontent " + content + ", predicted " + predicted
          + "\n" + g.log() + "squashed layer:\n" + listing(entries);
    }
    return null;
  }

  private static String listing(List<RefFs.Entry> entries) {
    StringBuilder sb = new StringBuilder();
    for (RefFs.Entry e : entries) {
      sb.append("  ").append(e.kind()).append(' ').append(e.name())
          .append(e.linkName().isEmpty() ? "" : " -> " + e.linkName()).append('\n');
    }
    return sb.toString();
  }
}
