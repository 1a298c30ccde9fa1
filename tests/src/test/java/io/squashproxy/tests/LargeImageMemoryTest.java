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
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A 2 GiB image (four layers of two 256 MiB incompressible files each, then a layer that deletes one big file
 * and replaces another by a small one) squashed with a 256 MiB heap: memory use must not grow with the image.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LargeImageMemoryTest {

  static final long MIB = 1L << 20;
  static final long FILE = 256 * MIB;

  @Test
  void aTwoGibImageSquashesWithA256MibHeap() throws IOException {
    Path jar = Env.squashJar();
    try (Scratch work = Scratch.create("large")) {
      Map<String, String> expectedSha = new TreeMap<>();
      Map<String, Long> expectedSize = new TreeMap<>();
      List<RandomContent> contents = new ArrayList<>();
      List<List<Entry>> layers = new ArrayList<>();
      List<String> names = new ArrayList<>();
      long seed = 1;
      for (String layer : List.of("a", "b", "c", "d")) {
        List<Entry> entries = new ArrayList<>();
        if (layer.equals("a")) {
          entries.add(Entry.dir("data/"));
        }
        for (int i = 0; i < 2; i++) {
          RandomContent c = new RandomContent(FILE, seed++);
          contents.add(c);
          names.add("data/" + layer + i);
          entries.add(Entry.file("data/" + layer + i, c));
        }
        layers.add(entries);
      }
      RandomContent small = new RandomContent(16 * 1024, seed);
      layers.add(List.of(
          Entry.whiteout("data/b0"),
          Entry.file("data/c1", small).mode(0600),
          Entry.file("data/note", "the big files are gone\n")));

      long t0 = System.nanoTime();
      Path in = work.resolve("large.tar");
      GeneratedArchive.write(in, "squash-test/large:1", layers);
      long inputBytes = Files.size(in);
      System.out.printf("[large] wrote a %d MiB docker-archive in %d ms%n", inputBytes / MIB,
          (System.nanoTime() - t0) / 1_000_000);
      for (int i = 0; i < names.size(); i++) {
        expectedSha.put(names.get(i), contents.get(i).sha256());
        expectedSize.put(names.get(i), FILE);
      }
      expectedSha.remove("data/b0");
      expectedSize.remove("data/b0");
      expectedSha.put("data/c1", small.sha256());
      expectedSize.put("data/c1", 16L * 1024);
      expectedSha.put("data/note", RootfsTree.sha256(new java.io.ByteArrayInputStream(
          "the big files are gone\n".getBytes())));
      expectedSize.put("data/note", 23L);

      Path out = work.resolve("squashed.tar");
      SquashCli.Measured m = SquashCli.squashMeasured(List.of("-Xmx256m"), in, out, work.path(),
          Duration.ofMinutes(5));
      System.out.printf("[large] %s: %d MiB -> %d MiB in %d ms, peak RSS %d MiB (jar %s)%n%s%n",
          "java -Xmx256m squash", inputBytes / MIB, Files.size(out) / MIB, m.result().took().toMillis(),
          m.peakRssKiB() / 1024, jar.getFileName(), m.result().output().strip());
      Files.delete(in);

      ImageArchive sq = ImageArchive.open(out);
      assertEquals(1, sq.layers().size());
      ImageChecks.assertConsistent(sq);
      Map<String, String> actualSha = new TreeMap<>();
      Map<String, Long> actualSize = new TreeMap<>();
      List<String> others = new ArrayList<>();
      try (InputStream layer = sq.openLayer(0)) {
        TarScan scan = new TarScan(layer);
        TarScan.Entry e;
        while ((e = scan.next()) != null) {
          String name = e.name().replaceFirst("^\\./", "").replaceFirst("/$", "");
          if (e.isFile()) {
            actualSize.put(name, e.size());
            actualSha.put(name, RootfsTree.sha256(scan.content()));
            if (name.equals("data/c1")) {
              assertEquals(0600, e.mode() & 07777, "data/c1 mode");
            }
          } else if (!(e.isDir() && (name.equals("data") || name.equals(".") || name.isEmpty()))) {
            others.add(e.type() + " " + name);
          }
        }
      }
      assertEquals(List.of(), others, "unexpected entries in the squashed layer");
      assertEquals(expectedSize, actualSize, "file list and sizes");
      assertEquals(expectedSha, actualSha, "file contents");
      assertTrue(m.peakRssKiB() > 0, "could not read the squash process's VmHWM");
    }
  }
}
