package io.squashproxy.tests.support;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code wrk} HTTP load generator (Debian package {@code wrk}): keep-alive connections, each sending the
 * next request as soon as the last response ends. {@link #run} returns what its report says.
 */
public final class Wrk {

  private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern TOTAL = Pattern.compile("(\\d+) requests in ([0-9.]+)(us|ms|s|m),\\s+([0-9.]+)([KMGT]?B) read");
  private static final Pattern P99 = Pattern.compile("^\\s+99(?:\\.000)?%\\s+([0-9.]+)(us|ms|s)\\s*$", Pattern.MULTILINE);
  private static final Pattern P50 = Pattern.compile("^\\s+50(?:\\.000)?%\\s+([0-9.]+)(us|ms|s)\\s*$", Pattern.MULTILINE);
  private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses:\\s+(\\d+)");
  private static final Pattern SOCKET_ERRORS = Pattern.compile(
      "Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");

  private Wrk() {}

  /**
   * One run's figures.
   *
   * @param p50Millis median latency, or NaN without {@code --latency}
   * @param p99Millis 99th percentile latency, or NaN without {@code --latency}
   * @param errors non-2xx responses plus socket errors (a benchmark must see none)
   */
  public record Result(long requests, double seconds, double requestsPerSecond, double bytesPerSecond,
      double p50Millis, double p99Millis, long errors, String output) {}

  /** {@code wrk -tTHREADS -cCONNECTIONS -dSECONDS [--latency] [-H header]... URL}. */
  public static Result run(String url, int threads, int connections, Duration duration, boolean latency,
      String... headers) {
    Env.requireTools("wrk");
    List<String> cmd = new ArrayList<>(List.of("wrk", "-t" + threads, "-c" + connections,
        "-d" + duration.toSeconds() + "s", "--timeout", "60s"));
    if (latency) {
      cmd.add("--latency");
    }
    for (String h : headers) {
      cmd.add("-H");
      cmd.add(h);
    }
    cmd.add(url);
    String out = Proc.of(cmd).timeout(duration.plusMinutes(2)).ok().stdout();
    return parse(out);
  }

  static Result parse(String out) {
    Matcher t = TOTAL.matcher(out);
    Matcher r = RPS.matcher(out);
    if (!t.find() || !r.find()) {
      throw new AssertionError("unexpected wrk output:\n" + out);
    }
    long requests = Long.parseLong(t.group(1));
    double seconds = Double.parseDouble(t.group(2)) * switch (t.group(3)) {
      case "us" -> 1e-6;
      case "ms" -> 1e-3;
      case "m" -> 60;
      default -> 1;
    };
    double bytes = Double.parseDouble(t.group(4)) * switch (t.group(5)) {
      case "KB" -> 1024.0;
      case "MB" -> 1024.0 * 1024;
      case "GB" -> 1024.0 * 1024 * 1024;
      case "TB" -> 1024.0 * 1024 * 1024 * 1024;
      default -> 1.0;
    };
    long errors = 0;
    Matcher n = NON_2XX.matcher(out);
    if (n.find()) {
      errors += Long.parseLong(n.group(1));
    }
    Matcher s = SOCKET_ERRORS.matcher(out);
    if (s.find()) {
      for (int i = 1; i <= 4; i++) {
        errors += Long.parseLong(s.group(i));
      }
    }
    return new Result(requests, seconds, Double.parseDouble(r.group(1)), bytes / seconds,
        millis(P50.matcher(out)), millis(P99.matcher(out)), errors, out);
  }

  private static double millis(Matcher m) {
    if (!m.find()) {
      return Double.NaN;
    }
    double v = Double.parseDouble(m.group(1));
    return switch (m.group(2).toLowerCase(Locale.ROOT)) {
      case "us" -> v / 1000;
      case "s" -> v * 1000;
      default -> v;
    };
  }
}
