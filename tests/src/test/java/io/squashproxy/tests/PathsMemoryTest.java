package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.GeneratedArchive;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.LayerTar.Entry;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.SquashCli;
import io.squashproxy.tests.support.TarScan;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #14 item 10: a squash holds every path of an image, and node_modules trees reach a million. 200,000
 * paths squash in a 40 MiB heap ({@code java -Xmx40m}: 210 bytes a path with the JVM and the CLI in it), both the
 * one-pass full squash and the two-pass squash that keeps a base layer; the output holds exactly the merged
 * paths. Before the paths were stored as a trie, the full squash needed about 44 MiB and the two-pass one 60.
 * The proxy, pulled through from a real Distribution registry, squashes the same image keeping a layer in a 64 MiB
 * heap when {@code limits.maxPathsPerSquash} allows it, and with the default limit a 40 MiB proxy passes it
 * through with the WARN naming the key, instead of running out of heap.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PathsMemoryTest {
  static final int PATHS = 200_000;
  static final List<String> HEAP = List.of("-Xmx40m", "-XX:+UseSerialGC");
  /** A base package the top layer deletes: the partial squash plans a whiteout for it. */
  static final String DELETED = "usr/lib/base/node_modules/@scope-0/package-name-00000";

  @Test
  void twoHundredThousandPathsSquashInA40MibHeapInOnePassAndInTwo() throws IOException {
    List<List<Entry>> layers = List.of(
        tree("usr/lib/base", PATHS * 4 / 10, 0), tree("app", PATHS / 2, 1), new ArrayList<>());
    layers.get(2).addAll(tree("app2", PATHS / 10 - 1, 2));
    layers.get(2).add(Entry.whiteout(DELETED));
    try (Scratch work = Scratch.create("paths-memory")) {
      var in = work.resolve("paths.tar");
      GeneratedArchive.write(in, "squash-test/paths:1", layers);

      var full = work.resolve("full.tar");
      squash(work, in, full);
      TreeSet<String> merged = new TreeSet<>();
      for (List<Entry> layer : layers) {
        layer.forEach(e -> merged.add(clean(e.name())));
      }
      merged.remove(clean(Entry.whiteout(DELETED).name()));
      merged.removeIf(p -> p.equals(DELETED) || p.startsWith(DELETED + "/"));
      assertEquals(merged, names(full, 0, 1), "the full squash holds the merged file system");

      var kept = work.resolve("kept.tar");
      squash(work, in, kept, "--keep-layers", "1");
      TreeSet<String> upper = new TreeSet<>();
      layers.get(1).forEach(e -> upper.add(clean(e.name())));
      layers.get(2).forEach(e -> upper.add(clean(e.name())));
      assertEquals(upper, names(kept, 1, 2), "the squashed layer holds the upper layers and the whiteout");
    }
  }

  @Test
  void theProxySquashesItUnderAFixedHeapOrPassesItThroughAtItsDefaultLimit() throws IOException {
    List<List<Entry>> layers = List.of(tree("usr/lib/base", PATHS * 4 / 10, 0), tree("app", PATHS / 2, 1),
        tree("app2", PATHS / 10, 2));
    try (Scratch work = Scratch.create("paths-memory-proxy"); DistributionRegistry reg = DistributionRegistry.start()) {
      var in = work.resolve("paths.tar");
      GeneratedArchive.write(in, "squash-test/paths:1", layers);
      Skopeo.copy("docker-archive:" + in, reg.ref("memtest/paths:1"));
      String upstream = "http://" + reg.host();
      String keep = "squash:\n  rules:\n    - {match: '**', mode: keep, keep: 1}\n";

      try (ProxyProcess proxy = ProxyProcess.startWithJvmOptions(upstream,
          keep + "limits:\n  maxPathsPerSquash: 400000\n", List.of("-Xmx64m"))) {
        RawManifest m = proxy.manifest("memtest/paths", "1");
        assertEquals(2, m.layerDigests().size(), "squashed, one layer kept, in a 64 MiB proxy:\n" + proxy.tail());
        assertTrue(proxy.isAlive());
      }
      try (ProxyProcess proxy = ProxyProcess.startWithJvmOptions(upstream, keep, List.of("-Xmx40m"))) {
        RawManifest m = proxy.manifest("memtest/paths", "1");
        assertEquals(3, m.layerDigests().size(), "passed through as it is:\n" + proxy.tail());
        assertTrue(proxy.log().lines().anyMatch(l -> l.contains("WARN") && l.contains("limits.maxPathsPerSquash")),
            proxy.tail());
        assertNotEquals(-1, proxy.log().indexOf("memtest/paths"), proxy.tail());
      }
    }
  }

  private static void squash(Scratch work, java.nio.file.Path in, java.nio.file.Path out, String... flags) {
    Proc.Result r = Proc.of(SquashCli.command(HEAP, in, out, flags)).timeout(Duration.ofMinutes(3)).run();
    System.out.printf("[paths-memory] java %s squash %s: exit %d in %d ms%n", String.join(" ", HEAP),
        String.join(" ", flags), r.exitCode(), r.took().toMillis());
    assertEquals(0, r.exitCode(), () -> PATHS + " paths in a 40 MiB heap " + String.join(" ", flags) + ": "
        + r.stdout() + r.stderr());
  }

  /** The cleaned names in layer {@code index} of an image of {@code layers} layers. */
  private static TreeSet<String> names(java.nio.file.Path image, int index, int layers) throws IOException {
    ImageArchive sq = ImageArchive.open(image);
    assertEquals(layers, sq.layers().size());
    ImageChecks.assertConsistent(sq);
    TreeSet<String> names = new TreeSet<>();
    try (InputStream layer = sq.openLayer(index)) {
      TarScan scan = new TarScan(layer);
      for (TarScan.Entry e; (e = scan.next()) != null; ) {
        names.add(clean(e.name()));
      }
    }
    return names;
  }

  private static String clean(String name) {
    return name.replaceFirst("^\\./", "").replaceFirst("/$", "");
  }

  /** {@code count} node_modules-like entries under {@code prefix}, as bench/paths-memory/gen-image.py makes. */
  static List<Entry> tree(String prefix, int count, int seed) {
    List<Entry> e = new ArrayList<>(List.of(Entry.dir(prefix + "/"), Entry.dir(prefix + "/node_modules/")));
    for (int p = 0; e.size() < count; p++) {
      String pkg = String.format("%s/node_modules/@scope-%d/package-name-%05d", prefix, p % 50, p);
      if (p < 50) {
        e.add(Entry.dir(prefix + "/node_modules/@scope-" + p + "/"));
      }
      e.add(Entry.dir(pkg + "/"));
      e.add(Entry.dir(pkg + "/lib/"));
      e.add(Entry.file(pkg + "/package.json", ("{\"name\":\"x" + (p + seed) + "\"}").getBytes(StandardCharsets.UTF_8)));
      e.add(Entry.file(pkg + "/README.md", "readme"));
      for (int k = 0; k < 6; k++) {
        e.add(Entry.file(pkg + "/lib/module-file-" + k + ".js", "x"));
      }
    }
    return new ArrayList<>(e.subList(0, count));
  }
}
