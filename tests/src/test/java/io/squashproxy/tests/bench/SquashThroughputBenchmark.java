package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashListener;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.tests.support.BenchImage;
import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Test;

/**
 * Issue #5 part 1: squash throughput on a realistic image (see {@link BenchImage}), in process through
 * {@link Squasher}, to gzip level 6 and to zstd level 3, against pigz, gzip and zstd compressing the merged
 * rootfs tar (the squash's own uncompressed output) in the same run. Each figure is the best of two runs
 * (gzip -6, the slowest, runs once).
 */
class SquashThroughputBenchmark {
  static final int RUNS = Integer.getInteger("bench.runs", 2);

  record Timed(double seconds, SquashResult result, double pass1Seconds, double cpuSeconds) {}

  record ToolTime(double seconds, double cpuSeconds, long outputBytes) {}

  @Test
  void squashThroughput() throws IOException, ParseException {
    Env.requireTools("pigz", "gzip", "zstd", "tar");
    try (Scratch work = Scratch.create("bench-squash")) {
      long t0 = System.nanoTime();
      BenchImage image = BenchImage.build(work.dir("image"));
      System.out.printf("[bench] built the image (%d MB of layer tars) in %.1f s%n",
          image.layerTarBytes() / 1_000_000, (System.nanoTime() - t0) / 1e9);
      Squasher squasher = new Squasher();

      // -Dbench.jfr=FILE records the squashes with Java Flight Recorder (profile settings) for `jfr print`.
      String jfr = System.getProperty("bench.jfr");
      Recording recording = null;
      if (jfr != null) {
        recording = new Recording(Configuration.getConfiguration("profile"));
        recording.start();
      }
      Timed gz = best(squasher, image, Compression.GZIP, work, RUNS);
      Path merged = work.resolve("merged.tar");
      try (InputStream in = new GZIPInputStream(Files.newInputStream(gz.result.squashedLayerFile()), 1 << 16)) {
        Files.copy(in, merged);
      }
      Proc.of("gzip", "-t", gz.result.squashedLayerFile().toString()).timeout(Duration.ofMinutes(5)).ok();
      long gzSize = gz.result.squashedLayer().size();
      gz.result.deleteLayerFile();
      Timed zs = best(squasher, image, Compression.ZSTD, work, RUNS);
      long zsSize = zs.result.squashedLayer().size();
      Proc.of("zstd", "-t", "-q", zs.result.squashedLayerFile().toString()).timeout(Duration.ofMinutes(5)).ok();
      zs.result.deleteLayerFile();
      if (recording != null) {
        recording.dump(Path.of(jfr));
        recording.close();
      }

      long tarBytes = Files.size(merged);
      assertEquals(gz.result.report().uncompressedBytesAfter(), tarBytes);
      assertTrue(tarBytes >= 300_000_000L, "the merged rootfs is only " + tarBytes + " bytes");
      ToolTime pigzT = bestTool("pigz -6 -p 2 -c", merged, work, RUNS);
      ToolTime zstdT = bestTool("zstd -3 -T2 -q -c", merged, work, RUNS);
      ToolTime gzipT = bestTool("gzip -6 -c", merged, work, 1);
      double pigz = pigzT.seconds;
      double zstd = zstdT.seconds;
      double gzip = gzipT.seconds;

      double mb = tarBytes / 1e6;
      BenchTable t = new BenchTable("1-squash-throughput", "Squash throughput (issue #5.1)");
      t.note(String.format("Image: debootstrap bookworm minbase + host Python/Perl libraries + 96 MiB generated "
          + "data (2/3 incompressible) + a clean-up layer (opaque apt lists, deleted perl, deleted and overwritten "
          + "files): %.0f MB of layer tars in 4 gzip layers, merged rootfs tar %.0f MB.",
          image.layerTarBytes() / 1e6, mb));
      t.note("Squash: in process, Squasher on the blobs (pass 1: verify, decompress, spool; pass 2: merge, "
          + "compress), output format version " + Squasher.OUTPUT_FORMAT_VERSION + ", "
          + Runtime.getRuntime().availableProcessors() + " cores. References compress the merged rootfs tar "
          + "(file to file, page cache warm). MB/s are of the merged tar. Best of " + RUNS + " runs.");
      t.note(String.format("Pass 1 took %.2f s of the gzip squash and %.2f s of the zstd squash; the rest is "
          + "pass 2.",
          gz.pass1Seconds, zs.pass1Seconds));
      t.row("squash gzip:6 vs pigz -6 -p 2", rate(gz.seconds, mb), rate(pigz, mb), gz.seconds / pigz, "<= 1.2",
          gz.seconds <= 1.2 * pigz);
      t.row("squash gzip:6 vs gzip -6", rate(gz.seconds, mb), rate(gzip, mb), gz.seconds / gzip, "<= 0.6",
          gz.seconds <= 0.6 * gzip);
      t.row("squash zstd:3 vs zstd -3 -T2", rate(zs.seconds, mb), rate(zstd, mb), zs.seconds / zstd, "<= 1.5",
          zs.seconds <= 1.5 * zstd);
      t.fact("CPU seconds (user+sys): squash gzip:6 / pigz -6 -p 2 / gzip -6", String.format(
          "%.1f / %.1f / %.1f", gz.cpuSeconds, pigzT.cpuSeconds, gzipT.cpuSeconds));
      t.fact("CPU seconds (user+sys): squash zstd:3 / zstd -3 -T2", String.format("%.1f / %.1f", zs.cpuSeconds,
          zstdT.cpuSeconds));
      t.fact("output size: squash gzip:6 / pigz -6 / gzip -6", String.format("%.1f / %.1f / %.1f MB",
          gzSize / 1e6, pigzT.outputBytes / 1e6, gzipT.outputBytes / 1e6));
      t.fact("output size: squash zstd:3 / zstd -3", String.format("%.1f / %.1f MB", zsSize / 1e6,
          zstdT.outputBytes / 1e6));
      t.note(String.format("Load average while measuring: %s (the machine is shared; CPU seconds are less "
          + "sensitive to that than wall time).", loadAverage()));
      t.write();
    }
  }

  static String rate(double seconds, double mb) {
    return String.format("%.2f s (%.0f MB/s)", seconds, mb / seconds);
  }

  static Timed best(Squasher squasher, BenchImage image, Compression c, Scratch work, int runs)
      throws IOException {
    Timed best = null;
    for (int i = 0; i < runs; i++) {
      double[] pass1End = new double[1];
      long start = System.nanoTime();
      double cpu0 = processCpuSeconds();
      SquashListener timing = new SquashListener() {
        @Override
        public void layerRead(int index, int total, Descriptor layer, long uncompressedBytes) {
          if (index == total - 1) {
            pass1End[0] = (System.nanoTime() - start) / 1e9;
          }
        }
      };
      SquashResult r = new Squasher(timing).squash(image.manifest(), image.blobSource(),
          SquashOptions.DEFAULT.withCompression(c), work.dir("squash-work"));
      double s = (System.nanoTime() - start) / 1e9;
      double cpu = processCpuSeconds() - cpu0;
      System.out.printf("[bench] squash %s: %.2f s (pass 1 %.2f s), cpu %.2f s, %d bytes%n", c, s, pass1End[0],
          cpu, r.squashedLayer().size());
      if (best == null || s < best.seconds) {
        if (best != null) {
          best.result.deleteLayerFile();
        }
        best = new Timed(s, r, pass1End[0], cpu);
      } else {
        r.deleteLayerFile();
      }
    }
    return best;
  }

  static ToolTime bestTool(String command, Path input, Scratch work, int runs) {
    Path out = work.resolve("reference.out");
    ToolTime best = null;
    for (int i = 0; i < runs; i++) {
      long start = System.nanoTime();
      // bash's time keyword reports the children's CPU time as "user sys" on stderr
      Proc.Result r = Proc.of("bash", "-c", "TIMEFORMAT='%U %S'; time (" + command + " '" + input + "' > '"
          + out + "')").timeout(Duration.ofMinutes(10)).ok();
      double s = (System.nanoTime() - start) / 1e9;
      String[] us = r.stderr().strip().split("\\s+");
      double cpu = Double.parseDouble(us[us.length - 2]) + Double.parseDouble(us[us.length - 1]);
      System.out.printf("[bench] %s: %.2f s, cpu %.2f s, %d bytes%n", command, s, cpu, out.toFile().length());
      if (best == null || s < best.seconds) {
        best = new ToolTime(s, cpu, out.toFile().length());
      }
    }
    return best;
  }

  /** This JVM's user+system CPU time (all threads) from /proc/self/stat, in clock ticks of 1/100 s. */
  static double processCpuSeconds() {
    try {
      String stat = Files.readString(Path.of("/proc/self/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static String loadAverage() {
    try {
      return String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3));
    } catch (IOException e) {
      return "unknown";
    }
  }
}
