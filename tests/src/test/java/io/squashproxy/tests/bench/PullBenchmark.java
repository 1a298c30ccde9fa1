package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.PullThroughRegistry;
import io.squashproxy.tests.support.Scratch;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #5 part 4: cold and warm pulls end to end with skopeo ({@code skopeo copy docker://... dir:...}),
 * through Squash Proxy (the cold pull includes the squash) and through Distribution's own pull-through cache
 * of the original image, both in front of the same upstream registry, in the same run. Every round starts
 * fresh servers (empty caches). The main comparison warms both with another, small image first, as a server
 * in service would be; a third, fresh proxy shows the cold pull right after a proxy restart (cold JVM too).
 * The two servers take turns to go first. Reported: the times, and the bytes the client fetched.
 */
class PullBenchmark {

  @Test
  @Timeout(value = 30, unit = TimeUnit.MINUTES)
  void coldAndWarmPullsAgainstDistributionPullThrough() {
    int rounds = Integer.getInteger("bench.pullRounds", 3);
    List<Double> proxyCold = new ArrayList<>();
    List<Double> proxyWarm = new ArrayList<>();
    List<Double> proxyFreshJvm = new ArrayList<>();
    List<Double> mirrorCold = new ArrayList<>();
    List<Double> mirrorWarm = new ArrayList<>();
    long proxyBytes = 0;
    long mirrorBytes = 0;
    int proxyLayers = 0;
    int mirrorLayers = 0;
    String ref = PullImage.REPO + ":" + PullImage.TAG;
    try (PullImage img = PullImage.start(); Scratch work = Scratch.create("pulls")) {
      for (int i = 0; i < rounds; i++) {
        boolean proxyFirst = i % 2 == 1;
        try (ProxyProcess fresh = ProxyProcess.startForBenchmark(img.upstreamUrl(), null, List.of("-Xmx512m"))) {
          proxyFreshJvm.add(PullImage.pull(fresh.ref(ref), work.path(), "fresh").seconds());
        }
        try (ProxyProcess proxy = ProxyProcess.startForBenchmark(img.upstreamUrl(), null, List.of("-Xmx512m"));
            PullThroughRegistry mirror = PullThroughRegistry.start(img.upstreamUrl())) {
          PullImage.pull(proxy.ref(PullImage.WARMUP), work.path(), "p-warmup");
          PullImage.pull(mirror.ref(PullImage.WARMUP), work.path(), "m-warmup");
          PullImage.Pull pc = proxyFirst ? PullImage.pull(proxy.ref(ref), work.path(), "p-cold") : null;
          PullImage.Pull mc = PullImage.pull(mirror.ref(ref), work.path(), "m-cold");
          pc = proxyFirst ? pc : PullImage.pull(proxy.ref(ref), work.path(), "p-cold");
          PullImage.Pull pw = proxyFirst ? PullImage.pull(proxy.ref(ref), work.path(), "p-warm") : null;
          PullImage.Pull mw = PullImage.pull(mirror.ref(ref), work.path(), "m-warm");
          pw = proxyFirst ? pw : PullImage.pull(proxy.ref(ref), work.path(), "p-warm");
          assertEquals(2, proxy.squashLineCount(), "one squash per image:\n" + proxy.tail());
          assertEquals(pc.bytes(), pw.bytes(), "cold and warm pulls fetch the same image");
          System.out.printf("[bench] round %d: proxy cold %.2f s warm %.2f s (%d bytes), fresh JVM cold %.2f s; "
              + "distribution cold %.2f s warm %.2f s (%d bytes)%n", i + 1, pc.seconds(), pw.seconds(), pc.bytes(),
              proxyFreshJvm.get(i), mc.seconds(), mw.seconds(), mc.bytes());
          proxyCold.add(pc.seconds());
          proxyWarm.add(pw.seconds());
          mirrorCold.add(mc.seconds());
          mirrorWarm.add(mw.seconds());
          proxyBytes = pc.bytes();
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
    new BenchTable("4-pull", "Pulls end to end with skopeo: Squash Proxy vs Distribution's pull-through cache")
        .row("cold pull (the proxy's includes the squash)", BenchTable.seconds(pc), BenchTable.seconds(mc), pc / mc,
            "reported", true)
        .row("cold pull right after a proxy start (cold JVM)", BenchTable.seconds(pf), BenchTable.seconds(mc),
            pf / mc, "reported", true)
        .row("warm pull", BenchTable.seconds(pw), BenchTable.seconds(mw), pw / mw, "reported", true)
        .row("bytes fetched by the client", BenchTable.mib(proxyBytes), BenchTable.mib(mirrorBytes),
            proxyBytes / (double) mirrorBytes, "reported", true)
        .fact("layers, proxy / Distribution", proxyLayers + " / " + mirrorLayers)
        .note("Median of " + rounds + " rounds. Each round starts a fresh proxy and a fresh `docker-registry` with "
            + "`proxy.remoteurl` (empty caches) in front of the same upstream `docker-registry`, pulls a small other "
            + "image through both (warming them as a server in service is warm), then pulls the measured image cold "
            + "and warm with `skopeo copy docker://... dir:...`, the two taking turns to go first. The cold-JVM row "
            + "is a third, fresh proxy's first pull.")
        .note("Image: 4 layers (busybox; 16 MiB random; ~24 MB of text; a layer deleting the random file and the "
            + "second text file and adding 8 MiB random). The proxy squashes it to one gzip-6 layer before it "
            + "answers the manifest; Distribution streams the original layers as it fetches them.")
        .note("Bytes fetched: the files skopeo wrote (manifest, config, layers as sent). Proxy JVM: default flags "
            + "(C2, default GC) with -Xmx512m, as in production.")
        .write();
  }

  static double median(List<Double> v) {
    return WrkComparison.median(v.stream().mapToDouble(Double::doubleValue).toArray());
  }
}
