package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.LoadRun;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 200 concurrent clients for 60 s ({@code -Dload.clients}, {@code -Dload.seconds}) against the proxy process
 * (paranoid leak detection) in front of a real Distribution registry: cached manifests and blobs (some
 * ranged) and four cold images. Flatness is measured against the first third of the run in the same run: heap
 * after a full GC, Netty direct memory and throughput; file descriptors and leak reports after the run.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class LoadBenchmark {

  @Test
  void twoHundredClientsForAMinute() throws Exception {
    int clients = Integer.getInteger("load.clients", 200);
    int seconds = Integer.getInteger("load.seconds", 60);
    LoadRun.Result r = LoadRun.run(new LoadRun.Settings(clients, seconds, 8, 4, 512));
    double refRate = r.referenceRequests() / r.windowSeconds();
    double lastRate = r.lastWindowRequests() / r.windowSeconds();
    BenchTable t = new BenchTable("7-load", "Load: " + clients + " clients for " + seconds + " s");
    t.fact("requests", r.requests() + " (" + String.format("%.0f", r.requestsPerSecond()) + "/s)");
    t.fact("failed requests", String.valueOf(r.failures()));
    t.fact("latency p50 / p99 / max", ms(r.p50Micros()) + " / " + ms(r.p99Micros()) + " / " + ms(r.maxMicros()));
    t.row("requests/s, last third vs first third", String.format("%.0f/s", lastRate),
        String.format("%.0f/s", refRate), lastRate / refRate, ">= 0.8", lastRate >= 0.8 * refRate);
    t.row("heap after full GC: end vs a third in", BenchTable.mib(r.heapAfterGcAfter()),
        BenchTable.mib(r.heapAfterGcReference()), (double) r.heapAfterGcAfter() / r.heapAfterGcReference(),
        "<= 1.2", r.heapAfterGcAfter() <= 1.2 * r.heapAfterGcReference());
    t.row("Netty direct memory: end vs a third in", BenchTable.mib(r.directAfter()),
        BenchTable.mib(r.directReference()), r.directReference() == 0 ? 1 : (double) r.directAfter()
            / r.directReference(), "<= 1.2 (or +16 MiB)",
        r.directAfter() <= Math.max(1.2 * r.directReference(), r.directReference() + (16 << 20)));
    t.fact("heap after full GC before the run", BenchTable.mib(r.heapAfterGcBefore()));
    t.fact("Netty direct memory before the run", BenchTable.mib(r.directBefore()));
    t.fact("file descriptors before / after", r.fdsBefore() + " / " + r.fdsAfter());
    t.fact("Netty LEAK reports (paranoid)", String.valueOf(r.leakReports()));
    t.fact("squashes (warm + cold images)", String.valueOf(r.squashes()));
    t.fact("keep-alive connections re-opened", String.valueOf(r.reconnects()));
    t.note("Clients are keep-alive connections on blocking sockets in the benchmark's JVM; each request is "
        + "checked (digest, or bytes of the range). Mix: 35% manifest GET by tag, 10% HEAD, 5% GET by the original "
        + "digest, 35% whole blobs, 15% ranged blobs; cold images are pulled whole at 1/5 .. 4/5 of the run.");
    t.note("The proxy runs with -Xmx512m -XX:+UseSerialGC and -Dio.netty.leakDetection.level=paranoid (slower "
        + "than production): throughput here is a floor.");
    StringBuilder series = new StringBuilder("Samples (s: heap used, direct, open client connections): ");
    for (LoadRun.Sample s : r.samples()) {
      if (Math.round(s.second()) % 10 == 0) {
        series.append(String.format("%.0f: %s, %s, %d; ", s.second(), BenchTable.mib(s.heapUsed()),
            BenchTable.mib(s.nettyDirect()), s.connections()));
      }
    }
    t.note(series.toString());
    t.write();
    assertEquals(0, r.failures(), "failed requests: " + r.firstFailures());
  }

  static String ms(long micros) {
    return String.format("%.1f ms", micros / 1000.0);
  }
}
