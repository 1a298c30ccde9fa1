package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the offline CLI as users do: {@code java -jar squash-proxy.jar squash --input IN --output OUT ...}.
 */
public final class SquashCli {

  private SquashCli() {}

  public static List<String> command(List<String> jvmArgs, Path in, Path out, String... extra) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Env.java().toString());
    cmd.addAll(jvmArgs);
    cmd.add("-jar");
    cmd.add(Env.squashJar().toString());
    cmd.add("squash");
    cmd.add("--input");
    cmd.add(in.toString());
    cmd.add("--output");
    cmd.add(out.toString());
    cmd.addAll(Arrays.asList(extra));
    return cmd;
  }

  /** Squashes and fails, with the CLI's output, unless it exits 0. */
  public static Proc.Result squash(Path in, Path out, String... extra) {
    Proc.Result r = Proc.of(command(List.of(), in, out, extra)).timeout(Duration.ofMinutes(5)).ok();
    System.out.println("[squash] " + String.join(" ", extra) + " " + in.getFileName() + " -> "
        + out.getFileName() + " (" + r.took().toMillis() + " ms)\n" + r.output().strip());
    return r;
  }

  /** Runs the CLI with any arguments and returns whatever happened. */
  public static Proc.Result run(String... args) {
    List<String> cmd = new ArrayList<>(List.of(Env.java().toString(), "-jar", Env.squashJar().toString()));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).timeout(Duration.ofMinutes(2)).run();
  }

  /** A finished run with its peak resident set size. */
  public record Measured(Proc.Result result, long peakRssKiB) {}

  /**
   * Runs the CLI with JVM options, polling {@code /proc/PID/status} for VmHWM (the peak RSS, which only
   * grows) until it exits.
   */
  public static Measured squashMeasured(List<String> jvmArgs, Path in, Path out, Path logDir, Duration timeout,
      String... extra) {
    List<String> cmd = command(jvmArgs, in, out, extra);
    Path stdout = logDir.resolve("squash.out");
    Path stderr = logDir.resolve("squash.err");
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectOutput(stdout.toFile())
        .redirectError(stderr.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    long start = System.nanoTime();
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Path status = Path.of("/proc", Long.toString(p.pid()), "status");
    long peak = 0;
    long deadline = start + timeout.toNanos();
    try {
      while (!p.waitFor(20, TimeUnit.MILLISECONDS)) {
        peak = Math.max(peak, vmHwmKiB(status));
        if (System.nanoTime() > deadline) {
          Proc.killTree(p);
          p.waitFor(10, TimeUnit.SECONDS);
          throw new AssertionError("squash ran past " + timeout.toSeconds() + " s; peak RSS so far "
              + peak / 1024 + " MiB\n" + Proc.readQuietly(stdout) + Proc.readQuietly(stderr));
        }
      }
    } catch (InterruptedException e) {
      Proc.killTree(p);
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
    Proc.Result r = new Proc.Result(cmd, p.exitValue(), Proc.readQuietly(stdout), Proc.readQuietly(stderr),
        Duration.ofNanos(System.nanoTime() - start));
    if (r.exitCode() != 0) {
      throw new AssertionError("squash failed (peak RSS " + peak / 1024 + " MiB): " + r.describe());
    }
    return new Measured(r, peak);
  }

  private static long vmHwmKiB(Path status) {
    try {
      for (String line : Files.readAllLines(status, StandardCharsets.US_ASCII)) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.substring(6).replace("kB", "").trim());
        }
      }
    } catch (IOException | RuntimeException e) {
      // the process is gone or its status is being torn down
    }
    return 0;
  }
}
