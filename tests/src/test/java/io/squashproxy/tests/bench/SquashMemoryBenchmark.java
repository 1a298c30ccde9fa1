package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.GeneratedArchive;
import io.squashproxy.tests.support.GeneratedArchive.RandomContent;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.LayerTar.Entry;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.SquashCli;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue #5 part 5: a 2 GiB image (the shape of LargeImageMemoryTest: four layers of two 256 MiB incompressible
 * files, then a layer deleting one and replacing another) squashed by {@code java -Xmx256m -jar
 * squash-proxy.jar squash}, to gzip:6 and to zstd:3. It must succeed; the table reports the peak RSS (VmHWM,
 * polled every 20 ms) and the time. LargeImageMemoryTest checks the output's content; this measures.
 */
class SquashMemoryBenchmark {
  static final long MIB = 1L << 20;

  @Test
  void twoGibImageWithA256MibHeap() throws IOException {
    Env.squashJar();
    try (Scratch work = Scratch.create("bench-memory")) {
      List<List<Entry>> layers = new ArrayList<>();
      long seed = 1;
      for (String layer : List.of("a", "b", "c", "d")) {
        List<Entry> entries = new ArrayList<>();
        if (layer.equals("a")) {
          entries.add(Entry.dir("data/"));
        }
        for (int i = 0; i < 2; i++) {
          entries.add(Entry.file("data/" + layer + i, new RandomContent(256 * MIB, seed++)));
        }
        layers.add(entries);
      }
      layers.add(List.of(Entry.whiteout("data/b0"),
          Entry.file("data/c1", new RandomContent(16 * 1024, seed)),
          Entry.file("data/note", "the big files are gone\n".getBytes(StandardCharsets.UTF_8))));
      Path in = work.resolve("large.tar");
      GeneratedArchive.write(in, "squash-bench/large:1", layers);
      long inputBytes = Files.size(in);

      BenchTable t = new BenchTable("5-memory", "Memory: a 2 GiB image with -Xmx256m (issue #5.5)");
      t.note(String.format("Input: a %.0f MiB docker-archive (4 layers of 2 x 256 MiB random files, then a layer "
          + "deleting one and shrinking another); output about 1.5 GiB. `java -Xmx256m -jar squash-proxy.jar "
          + "squash`, %d cores; peak RSS is the process's VmHWM.", inputBytes / (double) MIB,
          Runtime.getRuntime().availableProcessors()));
      for (String compression : List.of("gzip:6", "zstd:3")) {
        Path out = work.resolve("squashed.tar");
        SquashCli.Measured m = SquashCli.squashMeasured(List.of("-Xmx256m"), in, out, work.path(),
            Duration.ofMinutes(20), "--compression", compression);
        assertEquals(1, ImageArchive.open(out).layers().size());
        double s = m.result().took().toNanos() / 1e9;
        t.fact("squash " + compression + ": peak RSS", BenchTable.mib(m.peakRssKiB() * 1024));
        t.fact("squash " + compression + ": time", String.format("%.1f s (%.0f MB/s of input)", s,
            inputBytes / 1e6 / s));
        t.fact("squash " + compression + ": output", BenchTable.mib(Files.size(out)));
        Files.delete(out);
      }
      t.write();
    }
  }
}
