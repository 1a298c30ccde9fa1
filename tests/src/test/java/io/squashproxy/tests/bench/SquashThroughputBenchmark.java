package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.tests.support.BenchImage;
import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.CpuTime;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.text.ParseException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Test;

/**
 * Issue #5 part 1: squash throughput on a realistic image (see {@link BenchImage}), in process through
 * {@link Squasher}, to gzip level 6 and to zstd level 3, against pigz, gzip and zstd compressing the merged
 * rootfs tar (the squash's own uncompressed output) in the same run. After a warm-up squash of each kind,
 * {@code -Dbench.runs} rounds (default 5) each run a squash and its reference back to back; the ratio is the
 * median of the rounds' ratios (gzip -6, the slowest, runs once). It also measures the work a verifying squash
 * cannot skip besides compressing, and from it the lowest ratio this machine allows. {@code -Dbench.jfr=FILE}
 * records the squashes with Java Flight Recorder.
 */
class SquashThroughputBenchmark {
  static final int RUNS = Integer.getInteger("bench.runs", 5);

  record Timed(double seconds, SquashResult result, double cpuSeconds) {}

  record ToolTime(double seconds, double cpuSeconds, long outputBytes) {}

  @Test
  void squashThroughput() throws IOException, ParseException {
    Env.requireTools("pigz", "gzip", "zstd", "tar");
    try (Scratch work = Scratch.create("bench-squash")) {
      long t0 = System.nanoTime();
      BenchImage image = BenchImage.build(work.dir("image"));
      System.out.printf("[bench] built the image (%d MB of layer tars) in %.1f s%n",
          image.layerTarBytes() / 1_000_000, (System.nanoTime() - t0) / 1e9);

      // -Dbench.jfr=FILE records the squashes with Java Flight Recorder (profile settings) for `jfr print`.
      String jfr = System.getProperty("bench.jfr");
      Recording recording = null;
      if (jfr != null) {
        recording = new Recording(Configuration.getConfiguration("profile"));
        recording.start();
      }
      // A warm-up squash of each kind (JIT, page cache; a proxy is a long-running process). The gzip one gives the
      // merged rootfs tar the references compress, and both outputs are checked by the tools.
      Timed warm = squashOnce(image, Compression.GZIP, work, true);
      Path merged = work.resolve("merged.tar");
      try (InputStream in = new GZIPInputStream(Files.newInputStream(warm.result.squashedLayerFile()), 1 << 16)) {
        Files.copy(in, merged);
      }
      Proc.of("gzip", "-t", warm.result.squashedLayerFile().toString()).timeout(Duration.ofMinutes(5)).ok();
      warm.result.deleteLayerFile();
      long tarBytes = Files.size(merged);
      assertEquals(warm.result.report().uncompressedBytesAfter(), tarBytes);
      assertTrue(tarBytes >= 300_000_000L, "the merged rootfs is only " + tarBytes + " bytes");
      Timed warmZstd = squashOnce(image, Compression.ZSTD, work, true);
      Proc.of("zstd", "-t", "-q", warmZstd.result.squashedLayerFile().toString()).timeout(Duration.ofMinutes(5))
          .ok();
      warmZstd.result.deleteLayerFile();

      // Subject and reference run back to back, round after round: each round's ratio compares runs that saw
      // the same machine (its speed drifts by 15% within minutes here), and the median ratio is the figure.
      List<Timed> gzs = new ArrayList<>();
      List<Timed> zss = new ArrayList<>();
      List<ToolTime> pigzs = new ArrayList<>();
      List<ToolTime> zstds = new ArrayList<>();
      ToolTime gzipT = null;
      for (int i = 0; i < RUNS; i++) {
        gzs.add(squashOnce(image, Compression.GZIP, work, false));
        pigzs.add(tool("pigz -6 -p 2 -c", merged, work));
        zss.add(squashOnce(image, Compression.ZSTD, work, false));
        zstds.add(tool("zstd -3 -T2 -q -c", merged, work));
        if (i == 0) {
          gzipT = tool("gzip -6 -c", merged, work);
        }
      }
      Timed gz = gzs.get(0);
      Timed zs = zss.get(0);
      double[] gzPigz = new double[RUNS];
      double[] zsZstd = new double[RUNS];
      for (int i = 0; i < RUNS; i++) {
        gzPigz[i] = gzs.get(i).seconds / pigzs.get(i).seconds;
        zsZstd[i] = zss.get(i).seconds / zstds.get(i).seconds;
      }
      Floor floor = floor(image, merged, work.resolve("reference.out"));
      if (recording != null) {
        recording.dump(Path.of(jfr));
        recording.close();
      }
      long gzSize = gz.result.squashedLayer().size();
      long zsSize = zs.result.squashedLayer().size();
      double gzSeconds = WrkComparison.median(gzs.stream().mapToDouble(Timed::seconds).toArray());
      double zsSeconds = WrkComparison.median(zss.stream().mapToDouble(Timed::seconds).toArray());
      double pigz = WrkComparison.median(pigzs.stream().mapToDouble(ToolTime::seconds).toArray());
      double zstd = WrkComparison.median(zstds.stream().mapToDouble(ToolTime::seconds).toArray());
      double pigzCpu = WrkComparison.median(pigzs.stream().mapToDouble(ToolTime::cpuSeconds).toArray());
      double zstdCpu = WrkComparison.median(zstds.stream().mapToDouble(ToolTime::cpuSeconds).toArray());
      double gzip = gzipT.seconds;
      ToolTime pigzT = pigzs.get(0);
      ToolTime zstdT = zstds.get(0);

      double mb = tarBytes / 1e6;
      BenchTable t = new BenchTable("1-squash-throughput", "Squash throughput (issue #5.1)");
      t.note(String.format("Image: debootstrap bookworm minbase + host Python/Perl libraries + 96 MiB generated "
          + "data (2/3 incompressible) + a clean-up layer (opaque apt lists, deleted perl, deleted and overwritten "
          + "files): %.0f MB of layer tars in 4 gzip layers, merged rootfs tar %.0f MB.",
          image.layerTarBytes() / 1e6, mb));
      t.note("Squash: in process, Squasher on the blobs (" + gz.result.report().method() + ": the layers read "
          + "top-down, each verified, decompressed and merged into the compressor as it streams; nothing spooled), "
          + "output format version " + Squasher.OUTPUT_FORMAT_VERSION + ", "
          + Runtime.getRuntime().availableProcessors() + " cores. References compress the merged rootfs tar "
          + "(file to file, page cache warm). MB/s are of the merged tar. After one warm-up squash of each kind, "
          + RUNS + " rounds, each a gzip squash, pigz, a zstd squash and zstd back to back (gzip -6 once, in the "
          + "first): times are medians, the pigz and zstd ratios the medians of the rounds' ratios.");
      double gzRatio = WrkComparison.median(gzPigz);
      double zsRatio = WrkComparison.median(zsZstd);
      t.row("squash gzip:6 vs pigz -6 -p 2", rate(gzSeconds, mb), rate(pigz, mb), gzRatio, "<= 1.2",
          gzRatio <= 1.2);
      t.row("squash gzip:6 vs gzip -6", rate(gzSeconds, mb), rate(gzip, mb), gzSeconds / gzip, "<= 0.6",
          gzSeconds <= 0.6 * gzip);
      t.row("squash zstd:3 vs zstd -3 -T2", rate(zsSeconds, mb), rate(zstd, mb), zsRatio, "<= 1.5",
          zsRatio <= 1.5);
      t.fact("the rounds' ratios: gzip vs pigz / zstd vs zstd", String.format("%s / %s", list(gzPigz),
          list(zsZstd)));
      t.fact("CPU seconds (user+sys): squash gzip:6 / pigz -6 -p 2 / gzip -6", String.format(
          "%.1f / %.1f / %.1f", WrkComparison.median(gzs.stream().mapToDouble(Timed::cpuSeconds).toArray()), pigzCpu,
          gzipT.cpuSeconds));
      t.fact("CPU seconds (user+sys): squash zstd:3 / zstd -3 -T2", String.format("%.1f / %.1f",
          WrkComparison.median(zss.stream().mapToDouble(Timed::cpuSeconds).toArray()), zstdCpu));
      t.fact("output size: squash gzip:6 / pigz -6 / gzip -6", String.format("%.1f / %.1f / %.1f MB",
          gzSize / 1e6, pigzT.outputBytes / 1e6, gzipT.outputBytes / 1e6));
      t.fact("output size: squash zstd:3 / zstd -3", String.format("%.1f / %.1f MB", zsSize / 1e6,
          zstdT.outputBytes / 1e6));
      int cores = Runtime.getRuntime().availableProcessors();
      double gzipBound = (pigzCpu + floor.seconds()) / cores / pigz;
      double zstdBound = (zstdCpu + floor.seconds()) / cores / zstd;
      t.fact("CPU seconds a verifying squash spends beyond compressing: reading and SHA-256 of the input blobs, "
          + "gunzip, SHA-256 of the layer tars (diff_ids), SHA-256 of the output tar and blob", String.format(
              "%.2f (gunzip %.2f, hashes %.2f)", floor.seconds(), floor.inflateSeconds(),
              floor.seconds() - floor.inflateSeconds()));
      t.fact("lowest ratio possible on " + cores + " cores: (reference CPU + that) / " + cores
          + " cores / reference time; gzip vs pigz / zstd vs zstd", String.format("%.2f / %.2f", gzipBound,
              zstdBound));
      t.note("The lowest possible ratio assumes the squash compresses exactly as cheaply as the tool and keeps "
          + "every core busy; it is measured in the same run (one thread, in process, over the same blobs).");
      t.note(String.format("While measuring: %s (the machine is shared; CPU seconds are less "
          + "sensitive to that than wall time).", WrkComparison.loadAverage()));
      t.write();
    }
  }

  /** CPU seconds of the work every verifying squash does besides compressing, and the gunzip's share. */
  record Floor(double seconds, double inflateSeconds) {}

  /**
   * Measures, on this thread, what a squash cannot skip besides compressing: every input blob read and hashed,
   * gunzipped, and the tar hashed (the blob digest and diff_id checks), then the output hashed twice (the merged
   * tar for its diff_id, the compressed blob for its digest; {@code compressed} stands in for the latter).
   */
  static Floor floor(BenchImage image, Path mergedTar, Path compressed) throws IOException {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    ImageManifest m = ImageManifest.parse(image.manifest());
    byte[] buf = new byte[1 << 16];
    long inflate = 0;
    long c0 = threads.getCurrentThreadCpuTime();
    for (Descriptor layer : m.layers()) {
      MessageDigest tarHash = sha256();
      try (InputStream blob = new VerifyingInputStream(
          image.blobSource().open(layer.digest()), "blob", layer.digest(), layer.size());
          InputStream tar = Compression.decompress(blob)) {
        long i0 = threads.getCurrentThreadCpuTime();
        for (int n; (n = tar.read(buf)) > 0; ) {
          tarHash.update(buf, 0, n);
        }
        inflate += threads.getCurrentThreadCpuTime() - i0;
      }
      tarHash.digest();
    }
    hash(mergedTar, Long.MAX_VALUE, buf);
    hash(compressed, Long.MAX_VALUE, buf);
    double total = (threads.getCurrentThreadCpuTime() - c0) / 1e9;
    // The inflate loop also hashed the tar; time that part alone to split gunzip from hashing.
    long probe = Math.min(Files.size(mergedTar), 256L << 20);
    long h0 = threads.getCurrentThreadCpuTime();
    hash(mergedTar, probe, buf);
    double hashPerByte = (threads.getCurrentThreadCpuTime() - h0) / 1e9 / probe;
    double inflateOnly = inflate / 1e9 - hashPerByte * image.layerTarBytes();
    System.out.printf("[bench] unavoidable work besides compressing: %.2f s CPU (gunzip %.2f s)%n", total,
        inflateOnly);
    return new Floor(total, inflateOnly);
  }

  /** SHA-256 of the first {@code limit} bytes of {@code file}. */
  private static void hash(Path file, long limit, byte[] buf) throws IOException {
    MessageDigest h = sha256();
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; limit > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, limit))) > 0; limit -= n) {
        h.update(buf, 0, n);
      }
    }
    h.digest();
  }

  private static MessageDigest sha256() {
    return Digest.newMessageDigest(Digest.SHA256);
  }

  static String rate(double seconds, double mb) {
    return String.format("%.2f s (%.0f MB/s)", seconds, mb / seconds);
  }

  static String list(double[] v) {
    StringBuilder sb = new StringBuilder();
    for (double d : v) {
      sb.append(sb.length() == 0 ? "" : " ").append(String.format("%.2f", d));
    }
    return sb.toString();
  }

  /** One squash, timed; its layer file is deleted unless {@code keep}. */
  static Timed squashOnce(BenchImage image, Compression c, Scratch work, boolean keep) throws IOException {
    long start = System.nanoTime();
    double cpu0 = processCpuSeconds();
    SquashResult r = new Squasher().squash(image.manifest(), image.blobSource(),
        SquashOptions.DEFAULT.withCompression(c), work.dir("squash-work"));
    double s = (System.nanoTime() - start) / 1e9;
    double cpu = processCpuSeconds() - cpu0;
    System.out.printf("[bench] squash %s%s: %.2f s (%s), cpu %.2f s, %d bytes%n", c,
        keep ? " (warm-up)" : "", s, r.report().method(), cpu, r.squashedLayer().size());
    if (!keep) {
      r.deleteLayerFile();
    }
    return new Timed(s, r, cpu);
  }

  static ToolTime tool(String command, Path input, Scratch work) {
    Path out = work.resolve("reference.out");
    long start = System.nanoTime();
    // bash's time keyword reports the children's CPU time as "user sys" on stderr
    Proc.Result r = Proc.of("bash", "-c", "TIMEFORMAT='%U %S'; time (" + command + " '" + input + "' > '"
        + out + "')").timeout(Duration.ofMinutes(10)).ok();
    double s = (System.nanoTime() - start) / 1e9;
    String[] us = r.stderr().strip().split("\\s+");
    double cpu = Double.parseDouble(us[us.length - 2]) + Double.parseDouble(us[us.length - 1]);
    System.out.printf("[bench] %s: %.2f s, cpu %.2f s, %d bytes%n", command, s, cpu, out.toFile().length());
    return new ToolTime(s, cpu, out.toFile().length());
  }

  /** This JVM's user+system CPU time (all threads). */
  static double processCpuSeconds() {
    return CpuTime.micros(ProcessHandle.current().pid()) / 1e6;
  }
}
