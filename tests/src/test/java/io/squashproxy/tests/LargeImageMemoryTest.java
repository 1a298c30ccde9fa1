package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.GeneratedArchive;
import io.squashproxy.tests.support.GeneratedArchive.RandomContent;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.LayerTar.Entry;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.SquashCli;
import io.squashproxy.tests.support.TarScan;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A 2 GiB image (four layers of two 256 MiB incompressible files each, then a layer that deletes one big file
 * and replaces another by a small one) squashed by {@code java -Xmx256m -jar squash-proxy.jar}: memory must not
 * grow with the image. The output's file list, sizes, modes and every byte of content are checked.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LargeImageMemoryTest {

  static final long MIB = 1L << 20;
  static final long FILE = 256 * MIB;
  static final byte[] NOTE = "the big files are gone\n".getBytes(StandardCharsets.UTF_8);

  @Test
  void aTwoGibImageSquashesWithA256MibHeap() throws IOException {
    Env.squashJar();
    try (Scratch work = Scratch.create("large")) {
      Map<String, RandomContent> expected = new LinkedHashMap<>();
      List<List<Entry>> layers = new ArrayList<>();
      long seed = 1;
      for (String layer : List.of("a", "b", "c", "d")) {
        List<Entry> entries = new ArrayList<>();
        if (layer.equals("a")) {
          entries.add(Entry.dir("data/"));
        }
        for (int i = 0; i < 2; i++) {
          RandomContent c = new RandomContent(FILE, seed++);
          expected.put("data/" + layer + i, c);
          entries.add(Entry.file("data/" + layer + i, c));
        }
        layers.add(entries);
      }
      RandomContent small = new RandomContent(16 * 1024, seed);
      layers.add(List.of(
          Entry.whiteout("data/b0"),
          Entry.file("data/c1", small).mode(0600),
          Entry.file("data/note", NOTE)));
      expected.remove("data/b0");
      expected.put("data/c1", small);

      long t0 = System.nanoTime();
      Path in = work.resolve("large.tar");
      GeneratedArchive.write(in, "squash-test/large:1", layers);
      long inputBytes = Files.size(in);
      System.out.printf("[large] wrote a %d MiB docker-archive in %d ms%n", inputBytes / MIB,
          (System.nanoTime() - t0) / 1_000_000);

      Path out = work.resolve("squashed.tar");
      SquashCli.Measured m = SquashCli.squashMeasured(List.of("-Xmx256m"), in, out, work.path(),
          Duration.ofMinutes(5));
      System.out.printf("[large] java -Xmx256m -jar squash-proxy.jar squash: %d MiB -> %d MiB in %d ms, "
          + "peak RSS (VmHWM) %d MiB%n%s%n", inputBytes / MIB, Files.size(out) / MIB,
          m.result().took().toMillis(), m.peakRssKiB() / 1024, m.result().output().strip());
      assertTrue(m.peakRssKiB() > 0, "could not read the squash process's VmHWM");
      Files.delete(in);

      long t1 = System.nanoTime();
      ImageArchive sq = ImageArchive.open(out);
      assertEquals(1, sq.layers().size());
      ImageChecks.assertConsistent(sq);
      Map<String, Long> sizes = new TreeMap<>();
      List<String> problems = new ArrayList<>();
      try (InputStream layer = sq.openLayer(0)) {
        TarScan scan = new TarScan(layer);
        TarScan.Entry e;
        while ((e = scan.next()) != null) {
          String name = e.name().replaceFirst("^\\./", "").replaceFirst("/$", "");
          if (e.isDir() && (name.equals("data") || name.equals(".") || name.isEmpty())) {
            continue;
          }
          if (!e.isFile()) {
            problems.add("unexpected entry type " + e.type() + ": " + name);
            continue;
          }
          sizes.put(name, e.size());
          if (name.equals("data/note")) {
            if (!RootfsTree.sha256(scan.content()).equals(RootfsTree.sha256(new ByteArrayInputStream(NOTE)))) {
              problems.add("data/note: wrong content");
            }
          } else if (expected.containsKey(name)) {
            long at = expected.get(name).mismatch(scan.content());
            if (at >= 0) {
              problems.add(name + ": content differs at byte " + at);
            }
          }
          if (name.equals("data/c1") && (e.mode() & 07777) != 0600) {
            problems.add("data/c1: mode " + Integer.toOctalString(e.mode()));
          }
        }
      }
      Map<String, Long> expectedSizes = new TreeMap<>();
      expected.forEach((k, v) -> expectedSizes.put(k, v.size()));
      expectedSizes.put("data/note", (long) NOTE.length);
      assertEquals(expectedSizes, sizes, "file list and sizes of the squashed layer");
      assertEquals(List.of(), problems);
      System.out.printf("[large] checked the squashed layer in %d ms%n", (System.nanoTime() - t1) / 1_000_000);
    }
  }
}
