package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #5 part 6: 20 simultaneous cold pulls of one image (20 skopeo processes released together) through a
 * fresh proxy, against one cold pull through another fresh proxy, in the same run. Target: the 20 finish
 * within 1.3 x the single pull, with one squash (the proxy's {@code squash_proxy_squashes_total}).
 */
class ConcurrentPullBenchmark {

  static final int CLIENTS = 20;
  private static final Pattern UPSTREAM_BLOB_GETS = Pattern.compile(
      "^squash_proxy_upstream_requests_total\\{method=\"get\",type=\"blob\"[^}]*\\}\\s+([0-9.eE+]+)",
      Pattern.MULTILINE);
  private static final Pattern SQUASHES = Pattern.compile("^squash_proxy_squashes_total\\s+([0-9.eE+]+)",
      Pattern.MULTILINE);

  @Test
  @Timeout(value = 30, unit = TimeUnit.MINUTES)
  void twentyColdPullsAgainstOne() throws Exception {
    int rounds = Integer.getInteger("bench.concurrencyRounds", 2);
    List<Double> single = new ArrayList<>();
    List<Double> many = new ArrayList<>();
    List<Double> slowestClient = new ArrayList<>();
    List<Double> warmMany = new ArrayList<>();
    List<Double> directMany = new ArrayList<>();
    List<Double> squashSingle = new ArrayList<>();
    List<Double> squashMany = new ArrayList<>();
    String ref = PullImage.REPO + ":" + PullImage.TAG;
    try (PullImage img = PullImage.start(); Scratch work = Scratch.create("cpulls")) {
      for (int i = 0; i < rounds; i++) {
        try (ProxyProcess one = ProxyProcess.startForBenchmark(img.upstreamUrl(), null, List.of("-Xmx512m"));
            ProxyProcess twenty = ProxyProcess.startForBenchmark(img.upstreamUrl(), null, List.of("-Xmx512m"))) {
          // Both warmed with another image first, as a proxy in service is: a cold JVM would slow the single
          // pull most and flatter the ratio.
          PullImage.pull(one.ref(PullImage.WARMUP), work.path(), "warmup1");
          PullImage.pull(twenty.ref(PullImage.WARMUP), work.path(), "warmup20");
          double s = PullImage.pull(one.ref(ref), work.path(), "single").seconds();
          long getsBefore = metric(twenty, UPSTREAM_BLOB_GETS);
          long t0 = System.nanoTime();
          List<Double> each = pullAtOnce(twenty.ref(ref), work);
          double m = (System.nanoTime() - t0) / 1e9;
          // Single flight: the 20 clients (and the background squash) share one upstream GET per blob.
          int blobs = Skopeo.inspectRaw(img.upstream.ref(ref)).path("layers").size() + 1;
          assertEquals(blobs, metric(twenty, UPSTREAM_BLOB_GETS) - getsBefore,
              "upstream blob GETs for " + CLIENTS + " simultaneous cold pulls of " + blobs + " blobs");
          // One squash for the warm-up image, one for the measured image.
          assertEquals(2, squashes(one), "squashes for the single pull");
          assertEquals(2, squashes(twenty), "one squash for " + CLIENTS + " simultaneous pulls:\n" + twenty.tail());
          double slowest = each.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
          // Where the extra time goes: the squash (once either way) and the 20 clients' own transfer and
          // hashing, measured again with everything cached.
          long t1 = System.nanoTime();
          pullAtOnce(twenty.ref(ref), work);
          double warm = (System.nanoTime() - t1) / 1e9;
          // The same bytes from a server that does no squashing: the squashed image copied into the upstream
          // Distribution registry, pulled by 20 clients at once straight from there.
          if (i == 0) {
            Skopeo.copy(twenty.ref(ref), img.upstream.ref("bench/squashed:1"));
          }
          long t2 = System.nanoTime();
          pullAtOnce(img.upstream.ref("bench/squashed:1"), work);
          double direct = (System.nanoTime() - t2) / 1e9;
          directMany.add(direct);
          double squashOne = squashSeconds(one);
          double squashTwenty = squashSeconds(twenty);
          System.out.printf("[bench] round %d: one cold pull %.2f s (squash %.2f s); %d at once %.2f s (squash %.2f s,"
              + " slowest client %.2f s); %d warm at once %.2f s; %d at once from Distribution %.2f s%n", i + 1, s,
              squashOne, CLIENTS, m, squashTwenty, slowest, CLIENTS, warm, CLIENTS, direct);
          single.add(s);
          many.add(m);
          slowestClient.add(slowest);
          warmMany.add(warm);
          squashSingle.add(squashOne);
          squashMany.add(squashTwenty);
        }
      }
    }
    double s = PullBenchmark.median(single);
    double m = PullBenchmark.median(many);
    new BenchTable("6-concurrency", "20 simultaneous cold pulls of one image vs one cold pull (skopeo)")
        .row(CLIENTS + " cold pulls at once, all done, vs one cold pull", BenchTable.seconds(m),
            BenchTable.seconds(s), m / s, "<= 1.30", m / s <= 1.3)
        .fact("squashes for the " + CLIENTS + " pulls", "1 (squash_proxy_squashes_total)")
        .fact("upstream GETs for the " + CLIENTS + " pulls", "one per blob (squash_proxy_upstream_requests_total, "
            + "asserted every round)")
        .fact("slowest of the " + CLIENTS + " clients", BenchTable.seconds(PullBenchmark.median(slowestClient)))
        .fact("the squash, single / " + CLIENTS + " at once", BenchTable.seconds(PullBenchmark.median(squashSingle))
            + " / " + BenchTable.seconds(PullBenchmark.median(squashMany)))
        .fact(CLIENTS + " warm pulls at once (all cached), for comparison",
            BenchTable.seconds(PullBenchmark.median(warmMany)))
        .fact(CLIENTS + " pulls at once of the same squashed image straight from Distribution",
            BenchTable.seconds(PullBenchmark.median(directMany)))
        .fact("lowest ratio possible on this machine: " + CLIENTS + " warm pulls at once (the same clients and "
            + "bytes, nothing to fetch or squash) / one cold pull", String.format("%.2f",
                PullBenchmark.median(warmMany) / s))
        .note("Median of " + rounds + " rounds; each round starts two fresh proxies (empty caches) on the same "
            + "upstream `docker-registry`, and warms both with a small other image; then one pull through the first, "
            + "and " + CLIENTS + " `skopeo copy` processes released together through the second. Same image as the "
            + "pull benchmark.")
        .note("Cold at once ~= the squash (once) + " + CLIENTS + " warm pulls at once; those take about what the same "
            + "pulls straight from Distribution take: it is the clients' own work (" + CLIENTS + " skopeo processes "
            + "fetching, hashing and writing the image on the machine's cores), not the proxy's serving.")
        .write();
  }

  private static List<Double> pullAtOnce(String ref, Scratch work) throws Exception {
    CyclicBarrier start = new CyclicBarrier(CLIENTS);
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<Double>> futures = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        String name = "c" + i;
        futures.add(pool.submit(() -> {
          start.await(1, TimeUnit.MINUTES);
          return PullImage.pull(ref, work.path(), name).seconds();
        }));
      }
      List<Double> out = new ArrayList<>();
      for (Future<Double> f : futures) {
        out.add(f.get(10, TimeUnit.MINUTES));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** The measured image's squash time, from the proxy's {@code squashed ..., took N.NNs} log line. */
  static double squashSeconds(ProxyProcess proxy) {
    String details = proxy.squashes(PullImage.REPO).get(0).details();
    Matcher m = Pattern.compile("took ([0-9.]+)s").matcher(details);
    if (!m.find()) {
      throw new AssertionError("no squash time in: " + details);
    }
    return Double.parseDouble(m.group(1));
  }

  /** {@code squash_proxy_squashes_total} from the proxy's admin {@code /metrics}. */
  static long squashes(ProxyProcess proxy) throws Exception {
    return metric(proxy, SQUASHES);
  }

  /** A counter from the proxy's /metrics, by a pattern whose group 1 is its value. */
  static long metric(ProxyProcess proxy, Pattern counter) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    String body = http.send(HttpRequest.newBuilder(URI.create(proxy.adminUrl() + "/metrics")).GET().build(),
        HttpResponse.BodyHandlers.ofString()).body();
    Matcher mm = counter.matcher(body);
    if (!mm.find()) {
      throw new AssertionError("no " + counter.pattern() + " in /metrics:\n" + body);
    }
    return (long) Double.parseDouble(mm.group(1));
  }
}
