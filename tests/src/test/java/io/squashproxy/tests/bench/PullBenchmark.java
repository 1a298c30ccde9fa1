package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.PullThroughRegistry;
import io.squashproxy.tests.support.Scratch;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #5 part 4 and issue #13: cold and warm pulls end to end with skopeo ({@code skopeo copy docker://...
 * dir:...}), through Squash Proxy with the shipped config (every rule's {@code wait} at its default) and
 * through Distribution's own pull-through cache of the original image, both in front of the same upstream
 * registry, in the same run. Every round starts fresh servers (empty caches). The main comparison warms both
 * with another, small image first, as a server in service would be; a third, fresh proxy shows the cold pull
 * right after a proxy restart (cold JVM too). The two servers take turns to go first. Also measured: the
 * first byte of the cold manifest (a fresh pair of servers, a raw {@code GET} by tag), and a cold pull
 * through a proxy whose first pull waits for the squash ({@code --squash-wait 10m}), the behaviour before
 * issue #13. Reported: the times, and the bytes the client fetched.
 */
class PullBenchmark {
  private static final String ACCEPT = "application/vnd.oci.image.manifest.v1+json, "
      + "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, "
      + "application/vnd.docker.distribution.manifest.list.v2+json";

  @Test
  @Timeout(value = 30, unit = TimeUnit.MINUTES)
  void coldAndWarmPullsAgainstDistributionPullThrough() {
    int rounds = Integer.getInteger("bench.pullRounds", 3);
    List<Double> proxyCold = new ArrayList<>();
    List<Double> proxyWarm = new ArrayList<>();
    List<Double> proxyFreshJvm = new ArrayList<>();
    List<Double> proxyWaiting = new ArrayList<>();
    List<Double> mirrorCold = new ArrayList<>();
    List<Double> mirrorWarm = new ArrayList<>();
    List<Double> proxyFirstByte = new ArrayList<>();
    List<Double> mirrorFirstByte = new ArrayList<>();
    long proxyColdBytes = 0;
    long proxyBytes = 0;
    long mirrorBytes = 0;
    int proxyLayers = 0;
    int mirrorLayers = 0;
    String ref = PullImage.REPO + ":" + PullImage.TAG;
    List<String> jvm = List.of("-Xmx512m");
    try (PullImage img = PullImage.start(); Scratch work = Scratch.create("pulls")) {
      for (int i = 0; i < rounds; i++) {
        boolean proxyFirst = i % 2 == 1;
        try (ProxyProcess fresh = ProxyProcess.startShippedWait(img.upstreamUrl(), null, null, jvm)) {
          proxyFreshJvm.add(PullImage.pull(fresh.ref(ref), work.path(), "fresh").seconds());
        }
        try (ProxyProcess waiting = ProxyProcess.startForBenchmark(img.upstreamUrl(), null, jvm)) {
          PullImage.pull(waiting.ref(PullImage.WARMUP), work.path(), "w-warmup");
          proxyWaiting.add(PullImage.pull(waiting.ref(ref), work.path(), "w-cold").seconds());
        }
        try (ProxyProcess proxy = ProxyProcess.startShippedWait(img.upstreamUrl(), null, null, jvm);
            PullThroughRegistry mirror = PullThroughRegistry.start(img.upstreamUrl())) {
          PullImage.pull(proxy.ref(PullImage.WARMUP), work.path(), "p-warmup");
          PullImage.pull(mirror.ref(PullImage.WARMUP), work.path(), "m-warmup");
          awaitSquashes(proxy, 1);
          double pf = proxyFirst ? firstManifestByte(proxy.host()) : 0;
          double mf = firstManifestByte(mirror.ref("").substring("docker://".length()).replaceAll("/$", ""));
          pf = proxyFirst ? pf : firstManifestByte(proxy.host());
          proxyFirstByte.add(pf);
          mirrorFirstByte.add(mf);
        }
        try (ProxyProcess proxy = ProxyProcess.startShippedWait(img.upstreamUrl(), null, null, jvm);
            PullThroughRegistry mirror = PullThroughRegistry.start(img.upstreamUrl())) {
          PullImage.pull(proxy.ref(PullImage.WARMUP), work.path(), "p-warmup");
          PullImage.pull(mirror.ref(PullImage.WARMUP), work.path(), "m-warmup");
          awaitSquashes(proxy, 1); // the warm-up's background squash overlaps no measured pull
          PullImage.Pull pc = proxyFirst ? PullImage.pull(proxy.ref(ref), work.path(), "p-cold") : null;
          PullImage.Pull mc = PullImage.pull(mirror.ref(ref), work.path(), "m-cold");
          pc = proxyFirst ? pc : PullImage.pull(proxy.ref(ref), work.path(), "p-cold");
          // The squash went on in the background: the warm pull is the first after it finished.
          awaitSquashes(proxy, 2);
          PullImage.Pull pw = proxyFirst ? PullImage.pull(proxy.ref(ref), work.path(), "p-warm") : null;
          PullImage.Pull mw = PullImage.pull(mirror.ref(ref), work.path(), "m-warm");
          pw = proxyFirst ? pw : PullImage.pull(proxy.ref(ref), work.path(), "p-warm");
          assertEquals(2, proxy.squashLineCount(), "one squash per image:\n" + proxy.tail());
          assertEquals(mc.bytes(), pc.bytes(), "the cold pull fetches the original image");
          assertTrue(pw.bytes() < pc.bytes(), "the warm pull fetches the squashed image");
          System.out.printf("[bench] round %d: proxy cold %.2f s (%d bytes) warm %.2f s (%d bytes), fresh JVM "
              + "cold %.2f s, waiting for the squash %.2f s, first manifest byte %.1f ms; distribution cold "
              + "%.2f s warm %.2f s (%d bytes), first manifest byte %.1f ms%n", i + 1, pc.seconds(), pc.bytes(),
              pw.seconds(), pw.bytes(), proxyFreshJvm.get(i), proxyWaiting.get(i), proxyFirstByte.get(i) * 1e3,
              mc.seconds(), mw.seconds(), mc.bytes(), mirrorFirstByte.get(i) * 1e3);
          proxyCold.add(pc.seconds());
          proxyWarm.add(pw.seconds());
          mirrorCold.add(mc.seconds());
          mirrorWarm.add(mw.seconds());
          proxyColdBytes = pc.bytes();
          proxyBytes = pw.bytes();
          mirrorBytes = mc.bytes();
          if (i == 0) {
            proxyLayers = PullImage.layers(proxy.ref(ref));
            mirrorLayers = PullImage.layers(mirror.ref(ref));
          }
        }
      }
    }
    double pc = median(proxyCold);
    double mc = median(mirrorCold);
    double pw = median(proxyWarm);
    double mw = median(mirrorWarm);
    double pf = median(proxyFreshJvm);
    double pwait = median(proxyWaiting);
    double pfb = median(proxyFirstByte);
    double mfb = median(mirrorFirstByte);
    new BenchTable("4-pull", "Pulls end to end with skopeo: Squash Proxy vs Distribution's pull-through cache")
        .row("cold pull (shipped config: the squash goes on in the background)", BenchTable.seconds(pc),
            BenchTable.seconds(mc), pc / mc, "<= 1.2", pc / mc <= 1.2)
        .row("first byte of the cold manifest", BenchTable.seconds(pfb), BenchTable.seconds(mfb), pfb / mfb,
            "<= 1.5", pfb / mfb <= 1.5)
        .row("cold pull right after a proxy start (cold JVM)", BenchTable.seconds(pf), BenchTable.seconds(mc),
            pf / mc, "reported", true)
        .row("cold pull waiting for the squash (`wait: 10m`)", BenchTable.seconds(pwait), BenchTable.seconds(mc),
            pwait / mc, "reported", true)
        .row("warm pull (squashed)", BenchTable.seconds(pw), BenchTable.seconds(mw), pw / mw, "reported", true)
        .row("bytes fetched by the client, warm", BenchTable.mib(proxyBytes), BenchTable.mib(mirrorBytes),
            proxyBytes / (double) mirrorBytes, "reported", true)
        .fact("bytes fetched by the client, cold (the original image)", BenchTable.mib(proxyColdBytes))
        .fact("layers, proxy warm / Distribution", proxyLayers + " / " + mirrorLayers)
        .note("Median of " + rounds + " rounds. Each round starts fresh proxies and a fresh `docker-registry` with "
            + "`proxy.remoteurl` (empty caches) in front of the same upstream `docker-registry`, pulls another "
            + "image of 24 MiB in three layers through both (warming them as a server in service is warm: the proxy's "
            + "JIT has compiled its download and send paths), then pulls the measured image cold "
            + "and warm with `skopeo copy docker://... dir:...`, the two taking turns to go first. The warm pull "
            + "through the proxy starts once its background squash finished. The cold-JVM row is another fresh "
            + "proxy's first pull; the first-byte row a fresh pair's first `GET /v2/bench/app/manifests/1` (raw "
            + "socket, to the first response byte).")
        .note("Image: 4 layers (busybox; 16 MiB random; ~24 MB of text; a layer deleting the random file and the "
            + "second text file and adding 8 MiB random). With the shipped config (`squash.rules[].wait: 0s`) the "
            + "proxy answers the first pull with the original manifest and streams the original layers as it "
            + "fetches them, as Distribution does, and squashes the image to one gzip-6 layer in the background "
            + "from the same downloads; later pulls get the squashed image.")
        .note("Bytes fetched: the files skopeo wrote (manifest, config, layers as sent). Proxy JVM: default flags "
            + "(C2, default GC) with -Xmx512m, as in production.")
        .write();
  }

  /** Waits (bounded) until the proxy logged {@code n} squashes. */
  private static void awaitSquashes(ProxyProcess proxy, int n) {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
    while (proxy.squashLineCount() < n) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the background squash did not finish:\n" + proxy.tail());
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  /** Seconds from sending {@code GET /v2/REPO/manifests/TAG} to the first byte of the answer. */
  static double firstManifestByte(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    try (Socket s = new Socket(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)))) {
      s.setTcpNoDelay(true);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      byte[] req = ("GET /v2/" + PullImage.REPO + "/manifests/" + PullImage.TAG + " HTTP/1.1\r\nHost: " + hostPort
          + "\r\nAccept: " + ACCEPT + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
      long t0 = System.nanoTime();
      out.write(req);
      out.flush();
      int first = in.read();
      double seconds = (System.nanoTime() - t0) / 1e9;
      String status = (char) first + new String(in.readNBytes(11), StandardCharsets.US_ASCII);
      assertTrue(status.startsWith("HTTP/1.1 200"), status);
      in.readAllBytes();
      return seconds;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static double median(List<Double> v) {
    return WrkComparison.median(v.stream().mapToDouble(Double::doubleValue).toArray());
  }
}
