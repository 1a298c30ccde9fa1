package io.squashproxy.tests.bench;

import io.squashproxy.tests.support.CpuTime;
import io.squashproxy.tests.support.Wrk;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * The same wrk load against a reference server and the proxy, alternately (reference, proxy, reference,
 * proxy, ...) after a warm-up of each, so both see the same machine; figures are medians over the rounds.
 * Also measures each server's CPU time per request, which noise from other processes disturbs far less.
 */
final class WrkComparison {

  /** A server under load: its URL and the processes whose CPU time it uses. */
  record Target(String name, String url, long... pids) {}

  /** One side's runs. */
  record Side(List<Wrk.Result> runs, List<Double> cpuMicrosPerRequest) {
    double median(ToDoubleFunction<Wrk.Result> f) {
      return WrkComparison.median(runs.stream().mapToDouble(f).toArray());
    }

    double medianCpuMicrosPerRequest() {
      return WrkComparison.median(cpuMicrosPerRequest.stream().mapToDouble(Double::doubleValue).toArray());
    }

    long errors() {
      return runs.stream().mapToLong(Wrk.Result::errors).sum();
    }
  }

  record Outcome(Side reference, Side subject, int rounds, String load) {}

  static final int THREADS = 2;
  static final int CONNECTIONS = 16;

  static int rounds() {
    return Integer.getInteger("bench.rounds", 5);
  }

  static Duration duration() {
    return Duration.ofSeconds(Integer.getInteger("bench.seconds", 8));
  }

  static Duration warmUp() {
    return Duration.ofSeconds(Integer.getInteger("bench.warmupSeconds", 15));
  }

  static Outcome run(Target reference, Target subject, boolean latency, String... headers) {
    // The JIT compiles the proxy's hot path during its warm-up (on a loaded 2-core machine the optimising
    // compiler needs a while: CPU per request still falls after 5 s); nginx gets the same for fairness.
    Duration warm = warmUp();
    Wrk.run(reference.url(), THREADS, CONNECTIONS, warm, latency, headers);
    Wrk.run(subject.url(), THREADS, CONNECTIONS, warm, latency, headers);
    String before = loadAverage();
    List<Wrk.Result> ref = new ArrayList<>();
    List<Wrk.Result> sub = new ArrayList<>();
    List<Double> refCpu = new ArrayList<>();
    List<Double> subCpu = new ArrayList<>();
    for (int i = 0; i < rounds(); i++) {
      once(reference, latency, headers, ref, refCpu);
      once(subject, latency, headers, sub, subCpu);
    }
    return new Outcome(new Side(ref, refCpu), new Side(sub, subCpu), rounds(),
        before + " before, " + loadAverage() + " after");
  }

  private static void once(Target t, boolean latency, String[] headers, List<Wrk.Result> results,
      List<Double> cpu) {
    long c0 = CpuTime.micros(t.pids());
    Wrk.Result r = Wrk.run(t.url(), THREADS, CONNECTIONS, duration(), latency, headers);
    long c1 = CpuTime.micros(t.pids());
    System.out.printf("[bench] %s: %.0f req/s, %.1f MiB/s, p50 %.2f ms, p99 %.2f ms, %d errors, %.1f us CPU/req%n",
        t.name(), r.requestsPerSecond(), r.bytesPerSecond() / 1048576, r.p50Millis(), r.p99Millis(), r.errors(),
        (c1 - c0) / (double) Math.max(1, r.requests()));
    results.add(r);
    cpu.add((c1 - c0) / (double) Math.max(1, r.requests()));
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    int n = s.length;
    return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  /** The 1-, 5- and 15-minute load averages, for the notes: a loaded machine explains a lot. */
  static String loadAverage() {
    try {
      String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ");
      return "load " + f[0] + " " + f[1] + " " + f[2];
    } catch (java.io.IOException e) {
      return "load unknown";
    }
  }
}
