package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Nginx;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #5 part 3: {@code GET /v2/NAME/manifests/TAG} of a cached image, with the Accept header docker
 * sends, by wrk (2 threads, 16 keep-alive connections, latency distribution) against nginx serving the same
 * bytes as a static file with the same Content-Type, alternately in the same run. Targets: at least 0.7 x
 * nginx's requests/s, and a p99 latency under 5 ms.
 */
class ServeManifestBenchmark {

  @Test
  @Timeout(value = 20, unit = TimeUnit.MINUTES)
  void cachedManifestByTagAgainstNginx() {
    try (CachedImage img = CachedImage.start();
        Nginx nginx = new Nginx().bytes("manifest", img.manifest.bytes(), img.manifest.mediaType()).start()) {
      String path = "/v2/" + CachedImage.REPO + "/manifests/" + CachedImage.TAG;
      WrkComparison.Outcome o = WrkComparison.run(
          new WrkComparison.Target("nginx", nginx.url("manifest"), nginx.pid()),
          new WrkComparison.Target("proxy", img.proxy.url() + path, img.proxy.pid()), true,
          CachedImage.acceptHeader());
      assertEquals(0, o.reference().errors(), "nginx errors");
      assertEquals(0, o.subject().errors(), "proxy errors (non-2xx or socket errors)");

      double rps = o.subject().median(r -> r.requestsPerSecond());
      double refRps = o.reference().median(r -> r.requestsPerSecond());
      double p99 = o.subject().median(r -> r.p99Millis());
      double refP99 = o.reference().median(r -> r.p99Millis());
      double p50 = o.subject().median(r -> r.p50Millis());
      double refP50 = o.reference().median(r -> r.p50Millis());
      double cpu = o.subject().medianCpuMicrosPerRequest();
      double refCpu = o.reference().medianCpuMicrosPerRequest();
      new BenchTable("3-serve-manifest", "Serving a cached manifest by tag (wrk -t2 -c16 --latency, loopback)")
          .row("requests/s, proxy vs nginx (static file)", String.format("%.0f", rps), String.format("%.0f", refRps),
              rps / refRps, ">= 0.70", rps / refRps >= 0.7)
          .row("p99 latency", String.format("%.2f ms", p99), String.format("%.2f ms", refP99), p99 / refP99,
              "< 5 ms", p99 < 5)
          .fact("p50 latency, proxy / nginx", String.format("%.2f ms / %.2f ms", p50, refP50))
          .fact("server CPU per request, proxy / nginx", String.format("%.1f us / %.1f us", cpu, refCpu))
          .note("Median of " + o.rounds() + " alternating " + WrkComparison.duration().toSeconds()
              + " s runs each (nginx, proxy, ...) after a warm-up of each; " + o.load() + ".")
          .note("The manifest (" + img.manifest.bytes().length + " bytes, " + img.manifest.mediaType()
              + ") is answered on the event loop from memory when the tag is within its TTL: no executor hop, no "
              + "disk, the stored bytes wrapped without a copy.")
          .note("CPU is user + system time of the server processes (from /proc), including the kernel's "
              + "loopback work on their side; it is the figure least disturbed by other load on the machine.")
          .write();
    }
  }
}
