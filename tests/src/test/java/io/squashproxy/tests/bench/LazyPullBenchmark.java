package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Containerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.StargzSnapshotter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #15: how soon a container's command runs, and how many bytes the node fetches, when the image is
 * pulled lazily from the proxy's eStargz squash. One upstream image (busybox and a small file; three layers of
 * 100 MiB incompressible data; 40 MiB added and deleted) is served by three proxies on the same upstream in one
 * run: the original layers ({@code mode: off}), squashed to gzip ({@code mode: all}) and squashed to eStargz
 * ({@code mode: all, compression: estargz}). The first two are pulled by containerd into overlayfs ({@code ctr
 * images pull}, then {@code ctr run}), the eStargz one by the stargz snapshotter ({@code ctr-remote images
 * rpull}, then {@code ctr run --snapshotter stargz}, no background fetch); each round with a fresh containerd
 * (and snapshotter), the command {@code cat} of the small file. Every proxy is warm (squashed and cached, its
 * blobs read once) before the first round.
 */
class LazyPullBenchmark {
  private static final String REPO = "bench/lazy";
  private static final String HELLO = "started\n";
  private static final long MIB = 1 << 20;
  private static final int ROUNDS = Integer.getInteger("bench.lazyRounds", 3);

  /** One way to serve and pull the image. */
  private record Variant(String name, ProxyProcess proxy, boolean lazy) {}

  /** One pull and run: seconds from the start of the pull until the command has run, bytes the proxy sent. */
  private record Run(double seconds, long bytes) {}

  @Test
  @Timeout(value = 40, unit = TimeUnit.MINUTES)
  void commandStartAndBytesFetchedFromALazyEstargzSquash() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners; containerd and FUSE");
    Env.requireTools("docker-registry", "umoci", "skopeo", "openssl", "containerd", "ctr", "ctr-remote");
    try (Scratch work = Scratch.create("lazy-bench"); AccessLogRegistry registry = AccessLogRegistry.start()) {
      try (ImageBuilder image = build()) {
        Skopeo.copy(image.skopeoRef(), registry.ref(REPO + ":1"), "--format", "oci");
      }
      long originalBytes = registry.manifest(REPO, "1").layerBytes();
      List<ProxyProcess> proxies = new ArrayList<>();
      try {
        List<Variant> variants = List.of(
            new Variant("original layers (mode: off)", start(registry, proxies, "mode: off"), false),
            new Variant("squashed, gzip", start(registry, proxies, "mode: all"), false),
            new Variant("squashed, eStargz", start(registry, proxies, "mode: all, compression: estargz"), true));
        List<Long> layerBytes = new ArrayList<>();
        for (Variant v : variants) {
          // The squash (the rule waits for it) and one whole read of every blob: later pulls hit the cache.
          RawManifest m = v.proxy().manifest(REPO, "1");
          layerBytes.add(m.layerBytes());
          Skopeo.copy(v.proxy().ref(REPO + ":1"), "dir:" + work.resolve("warm-" + layerBytes.size()));
        }
        work.close();
        List<List<Run>> runs = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (int r = 0; r < ROUNDS; r++) {
          for (int i = 0; i < variants.size(); i++) {
            int k = (i + r) % variants.size(); // each variant goes first once
            Run run = pullAndRun(variants.get(k), r);
            System.out.printf("[lazy-bench] round %d %s: %.2f s, %d bytes%n", r, variants.get(k).name(),
                run.seconds(), run.bytes());
            runs.get(k).add(run);
          }
        }
        report(variants, runs, layerBytes, originalBytes);
      } finally {
        proxies.forEach(ProxyProcess::close);
      }
    }
  }

  private static ProxyProcess start(AccessLogRegistry registry, List<ProxyProcess> proxies, String rule) {
    ProxyProcess p = ProxyProcess.startForBenchmark(registry.url(),
        "squash:\n  rules:\n    - {match: '**', " + rule + "}\nlogging: {accessLog: true}\n", List.of("-Xmx512m"));
    proxies.add(p);
    return p;
  }

  /** busybox and the small file; 3 x 100 MiB incompressible; 40 MiB added, then deleted (the waste). */
  private static ImageBuilder build() {
    ImageBuilder b = ImageBuilder.create("lazy");
    try {
      b.layer("busybox and a small file", String.join("\n",
          "mkdir -p bin data",
          "cp " + Env.busybox() + " bin/busybox",
          "ln -s busybox bin/sh",
          "ln -s busybox bin/cat",
          "printf '" + HELLO.replace("\n", "\\n") + "' > data/hello.txt"));
      b.layer("100 MiB", random("data/a.bin", 100 * MIB, "a"));
      b.layer("100 MiB and 40 MiB of waste", random("data/b.bin", 100 * MIB, "b") + "\n"
          + random("data/waste.bin", 40 * MIB, "w"));
      b.layer("100 MiB, the waste deleted", random("data/c.bin", 100 * MIB, "c") + "\nrm data/waste.bin");
      return b;
    } catch (RuntimeException | Error e) {
      b.close();
      throw e;
    }
  }

  /** Incompressible bytes, fast: AES-CTR of zeros under a fixed key. */
  private static String random(String path, long size, String seed) {
    return "openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:" + seed + " -in /dev/zero 2>/dev/null"
        + " | head -c " + size + " > " + path;
  }

  private static Run pullAndRun(Variant v, int round) {
    String ref = v.proxy().image(REPO + ":1");
    int before = v.proxy().accessLog().size();
    long t0;
    String out;
    if (v.lazy()) {
      try (StargzSnapshotter s = StargzSnapshotter.start(
          StargzSnapshotter.Config.plainHttp(v.proxy().host()).withoutBackgroundFetch())) {
        t0 = System.nanoTime();
        s.rpull(ref);
        out = s.run(ref, "cat", "/data/hello.txt");
        t0 = System.nanoTime() - t0;
      }
    } else {
      try (Containerd c = Containerd.start()) {
        t0 = System.nanoTime();
        c.pull(ref);
        out = c.ctr("run", "--rm", ref, "lazy-bench-" + round, "cat", "/data/hello.txt").stdout();
        t0 = System.nanoTime() - t0;
      }
    }
    assertEquals(HELLO, out, v.name());
    long bytes = v.proxy().accessLog().stream().skip(before).mapToLong(ProxyProcess.Access::bytes).sum();
    return new Run(t0 / 1e9, bytes);
  }

  private static Run median(List<Run> runs) {
    List<Double> s = runs.stream().map(Run::seconds).sorted().toList();
    List<Long> b = runs.stream().map(Run::bytes).sorted().toList();
    return new Run(s.get(s.size() / 2), b.get(b.size() / 2));
  }

  private static void report(List<Variant> variants, List<List<Run>> runs, List<Long> layerBytes,
      long originalBytes) {
    Run original = median(runs.get(0));
    Run gzip = median(runs.get(1));
    Run lazy = median(runs.get(2));
    double startRatio = lazy.seconds() / gzip.seconds();
    double bytesRatio = lazy.bytes() / (double) gzip.bytes();
    BenchTable t = new BenchTable("8-lazy-pull",
        "Lazy pulling: command start from the proxy's eStargz squash (issue #15)");
    t.row("pull to command run: eStargz (stargz snapshotter) vs squashed gzip (overlayfs)",
            BenchTable.seconds(lazy.seconds()), BenchTable.seconds(gzip.seconds()), startRatio, "<= 0.25",
            startRatio <= 0.25)
        .row("bytes fetched from the proxy: eStargz vs squashed gzip", BenchTable.mib(lazy.bytes())
                + String.format(" (%.1f%%)", 100 * bytesRatio),
            BenchTable.mib(gzip.bytes()), bytesRatio, "<= 0.15", bytesRatio <= 0.15)
        .row("pull to command run: squashed gzip vs original layers (overlayfs)", BenchTable.seconds(gzip.seconds()),
            BenchTable.seconds(original.seconds()), gzip.seconds() / original.seconds(), "reported", true)
        .row("bytes fetched: squashed gzip vs original layers", BenchTable.mib(gzip.bytes()),
            BenchTable.mib(original.bytes()), gzip.bytes() / (double) original.bytes(), "reported", true);
    for (int i = 0; i < variants.size(); i++) {
      t.fact(variants.get(i).name() + ": bytes of the layers in its manifest; pull to command run by round",
          BenchTable.mib(layerBytes.get(i)) + "; " + String.join(", ",
              runs.get(i).stream().map(r -> BenchTable.seconds(r.seconds())).toList()));
    }
    t.note("Median of " + ROUNDS + " rounds. Image: busybox and /data/hello.txt; three layers of 100 MiB"
            + " incompressible data (AES-CTR); 40 MiB added with the second and deleted with the third ("
            + BenchTable.mib(originalBytes) + " of layers upstream). Three proxies on the same upstream"
            + " docker-registry, one per variant, each warm before the first round (squashed, every blob read"
            + " once): the squash is not timed.")
        .note("Each round: a fresh containerd (overlayfs) for the original and the gzip squash, `ctr images pull`"
            + " then `ctr run --rm IMAGE ID cat /data/hello.txt`; for eStargz a fresh stargz snapshotter"
            + " (`no_background_fetch = true`) and its containerd, `ctr-remote images rpull` then `ctr run"
            + " --snapshotter stargz`. Timed from the start of the pull until `cat` has printed; the variants"
            + " take turns to go first. Bytes: what the proxy's access log records for the round's requests"
            + " (manifests, config, whole and ranged blob reads). eStargz: the footer, the TOC, busybox and the"
            + " small file (no prioritised files: the snapshotter fetches what `cat` reads).")
        .write();
  }
}
