package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Many pulling clients against one proxy process, for a fixed time: a real Distribution registry upstream
 * with warm images (pulled once before the run, so their squashed manifests and blobs are cached) and cold
 * ones (first pulled during the run, at spread-out moments, while other clients pile onto them). Each client
 * is one keep-alive connection running a mix of manifest GETs and HEADs by tag, manifest GETs by the original
 * digest, whole blob GETs and ranged ones, checking every digest and every byte. The proxy runs with
 * paranoid leak detection; before and after the run it is measured from outside ({@link ProcessCensus}).
 */
public final class LoadRun {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ACCEPT = "application/vnd.oci.image.manifest.v1+json, "
      + "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json";

  public record Settings(int clients, int seconds, int warmImages, int coldImages, int layerKiB) {}

  /** An image as the proxy serves it: tag, original digest, squashed manifest digest, blobs by digest. */
  record Served(String repo, Digest original, Digest squashed, Map<Digest, byte[]> blobs, List<Digest> blobList) {}

  public record Sample(double second, long heapUsed, long nettyDirect, int connections) {}

  public record Result(Settings settings, long requests, long failures, List<String> firstFailures, double seconds,
      long p50Micros, long p99Micros, long maxMicros, long heapAfterGcBefore, long heapAfterGcReference,
      long heapAfterGcAfter, long directBefore, long directReference, long directAfter,
      ProcessCensus.Fds fdsBefore, ProcessCensus.Fds fdsAfter, int leakReports, int squashes, int coldPulled,
      int reconnects, List<Sample> samples, long referenceRequests, long lastWindowRequests, double windowSeconds) {

    public double requestsPerSecond() {
      return requests / seconds;
    }
  }

  private LoadRun() {}

  static TestImage image(int n, int layerKiB) {
    Random r = new Random(n);
    byte[] big = new byte[layerKiB * 1024];
    r.nextBytes(big);
    byte[] mid = new byte[layerKiB * 512];
    r.nextBytes(mid);
    return TestImage.oci()
        .layer(LayerBuilder.layer().dir("etc").file("etc/os-release", "ID=load" + n).file("bin/app", big))
        .layer(LayerBuilder.layer().file("data/mid", mid).file("data/tmp", big))
        .layer(LayerBuilder.layer().whiteout("data/tmp").file("data/n", "image " + n))
        .build();
  }

  public static Result run(Settings s) throws Exception {
    Env.squashJar();
    Env.requireTools("docker-registry");
    try (DistributionRegistry registry = DistributionRegistry.start()) {
      List<TestImage> warmImages = new ArrayList<>();
      List<Digest> warmOriginals = new ArrayList<>();
      for (int i = 0; i < s.warmImages(); i++) {
        TestImage img = image(i, s.layerKiB());
        warmImages.add(img);
        warmOriginals.add(RegistryPush.push(registry.host(), "load/warm" + i, "1", img));
      }
      List<TestImage> coldImages = new ArrayList<>();
      for (int i = 0; i < s.coldImages(); i++) {
        TestImage img = image(1000 + i, s.layerKiB());
        coldImages.add(img);
        RegistryPush.push(registry.host(), "load/cold" + i, "1", img);
      }
      String config = "limits: { idleTimeout: 5m }\nlogging: { level: info }\n";
      try (ProxyProcess proxy = ProxyProcess.startWithJvmOptions("http://" + registry.host(), config,
          List.of("-Dio.netty.leakDetection.level=paranoid"))) {
        return drive(s, proxy, warmImages, warmOriginals, coldImages);
      }
    }
  }

  private static Result drive(Settings s, ProxyProcess proxy, List<TestImage> warmImages, List<Digest> warmOriginals,
      List<TestImage> coldImages) throws Exception {
    int port = Integer.parseInt(proxy.host().substring(proxy.host().lastIndexOf(':') + 1));
    Path cacheDir = cacheDirOf(proxy);
    List<Served> pool = new CopyOnWriteArrayList<>();
    try (KeepAliveClient c = new KeepAliveClient("127.0.0.1", port)) {
      for (int i = 0; i < warmImages.size(); i++) {
        pool.add(pull(c, "load/warm" + i, warmOriginals.get(i)));
      }
    }
    long heapBefore = ProcessCensus.heapAfterGc(proxy.pid(), proxy.adminUrl());
    long directBefore = direct(proxy);
    ProcessCensus.Fds fdsBefore = ProcessCensus.fds(proxy.pid(), port, cacheDir);
    for (int i = 0; i < 50 && fdsBefore.connections() > 0; i++) {
      Thread.sleep(100); // the warm-up connection, closed by us, is closed by the proxy a moment later
      fdsBefore = ProcessCensus.fds(proxy.pid(), port, cacheDir);
    }

    AtomicLong requests = new AtomicLong();
    AtomicLong failures = new AtomicLong();
    ConcurrentLinkedQueue<String> failureText = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
    AtomicInteger coldStarted = new AtomicInteger();
    AtomicInteger coldPulled = new AtomicInteger();
    AtomicInteger reconnects = new AtomicInteger();
    AtomicBoolean stop = new AtomicBoolean();
    long started = System.nanoTime();
    long end = started + s.seconds() * 1_000_000_000L;
    CountDownLatch done = new CountDownLatch(s.clients());
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < s.clients(); t++) {
      int id = t;
      Thread th = new Thread(() -> {
        SplittableRandom r = new SplittableRandom(id * 7919L + 1);
        long[] lat = new long[1 << 16];
        int n = 0;
        try (KeepAliveClient c = new KeepAliveClient("127.0.0.1", port)) {
          while (!stop.get() && System.nanoTime() < end) {
            long t0 = System.nanoTime();
            try {
              // A cold image comes due at k/(K+1) of the run; the first client to see it pulls it whole.
              int k = coldStarted.get();
              if (k < coldImages.size() && t0 - started > (k + 1) * (end - started) / (coldImages.size() + 1)
                  && coldStarted.compareAndSet(k, k + 1)) {
                TestImage img = coldImages.get(k);
                pool.add(pull(c, "load/cold" + k, img.manifestDigest()));
                coldPulled.incrementAndGet();
                requests.addAndGet(2 + img.layerBlobs().size());
              } else {
                one(c, pool.get(r.nextInt(pool.size())), r);
                requests.incrementAndGet();
              }
            } catch (IOException | RuntimeException | AssertionError e) {
              failures.incrementAndGet();
              if (failureText.size() < 10) {
                failureText.add(e.toString());
              }
              c.disconnect();
            }
            if (n < lat.length) {
              lat[n++] = (System.nanoTime() - t0) / 1000;
            }
          }
          reconnects.addAndGet(c.connections() - 1);
        } finally {
          latencies.add(Arrays.copyOf(lat, n));
          done.countDown();
        }
      }, "load-client-" + t);
      th.setDaemon(true);
      threads.add(th);
    }
    threads.forEach(Thread::start);

    // Sample the proxy while the clients run; at a third of the run, take the reference for flatness.
    List<Sample> samples = new ArrayList<>();
    long heapReference = -1;
    long directReference = -1;
    long referenceRequests = 0;
    double window = Math.max(1, s.seconds() / 3.0);
    long referenceAt = started + (long) (window * 1e9);
    long lastWindowStart = end - (long) (window * 1e9);
    long lastWindowRequestsAtStart = -1;
    while (done.getCount() > 0) {
      long now = System.nanoTime();
      if (heapReference < 0 && now >= referenceAt) {
        referenceRequests = requests.get();
        heapReference = ProcessCensus.heapAfterGc(proxy.pid(), proxy.adminUrl());
        directReference = direct(proxy);
      }
      if (lastWindowRequestsAtStart < 0 && now >= lastWindowStart) {
        lastWindowRequestsAtStart = requests.get();
      }
      samples.add(new Sample((now - started) / 1e9, ProcessCensus.metric(proxy.adminUrl(), "jvm_memory_used_bytes",
          "area=\"heap\""), direct(proxy), ProcessCensus.fds(proxy.pid(), port, cacheDir).connections()));
      done.await(1, java.util.concurrent.TimeUnit.SECONDS);
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    long lastWindowRequests = requests.get() - Math.max(0, lastWindowRequestsAtStart);
    for (Thread th : threads) {
      th.join(60_000);
    }

    // After the run: connections gone, buffers collected (a leaked one is reported when collected and the
    // detector runs again on the next allocation, hence a few requests after the GC).
    long heapAfter = ProcessCensus.heapAfterGc(proxy.pid(), proxy.adminUrl());
    try (KeepAliveClient c = new KeepAliveClient("127.0.0.1", port)) {
      for (int i = 0; i < 50; i++) {
        one(c, pool.get(i % pool.size()), new SplittableRandom(i));
      }
    }
    ProcessCensus.heapAfterGc(proxy.pid(), proxy.adminUrl());
    try (KeepAliveClient c = new KeepAliveClient("127.0.0.1", port)) {
      for (int i = 0; i < 50; i++) {
        one(c, pool.get(i % pool.size()), new SplittableRandom(i));
      }
    }
    long directAfter = direct(proxy);
    ProcessCensus.Fds fdsAfter = ProcessCensus.fds(proxy.pid(), port, cacheDir);
    for (int i = 0; i < 50 && (fdsAfter.connections() > 0 || fdsAfter.cacheFiles() > fdsBefore.cacheFiles()); i++) {
      Thread.sleep(100);
      fdsAfter = ProcessCensus.fds(proxy.pid(), port, cacheDir);
    }
    int leaks = (int) proxy.log().lines().filter(l -> l.contains("LEAK:")).count();
    int squashes = proxy.squashes().size();

    List<Long> all = new ArrayList<>();
    latencies.forEach(a -> Arrays.stream(a).forEach(all::add));
    Collections.sort(all);
    long p50 = all.isEmpty() ? 0 : all.get(all.size() / 2);
    long p99 = all.isEmpty() ? 0 : all.get((int) Math.min(all.size() - 1, Math.round(all.size() * 0.99)));
    long max = all.isEmpty() ? 0 : all.get(all.size() - 1);
    return new Result(s, requests.get(), failures.get(), new ArrayList<>(failureText), seconds, p50, p99, max,
        heapBefore, heapReference, heapAfter, directBefore, directReference, directAfter, fdsBefore, fdsAfter, leaks,
        squashes, coldPulled.get(), reconnects.get(), samples, referenceRequests, lastWindowRequests, window);
  }

  /**
   * Direct memory in use: what Netty allocated without a cleaner (its counter; -1 when not tracked) plus the
   * JDK's direct buffer pool (ByteBuffer.allocateDirect, which Netty uses when it does not track).
   */
  static long direct(ProxyProcess proxy) {
    long netty = ProcessCensus.metric(proxy.adminUrl(), "netty_direct_memory_used_bytes", null);
    long jdk = ProcessCensus.metric(proxy.adminUrl(), "jvm_buffer_memory_used_bytes", "id=\"direct\"");
    return Math.max(0, netty) + jdk;
  }

  public static Path cacheDirOf(ProxyProcess proxy) {
    // ProxyProcess passes --cache-dir SCRATCH/cache-N; the proxy's own command line says which.
    String cmd = ProcessHandle.of(proxy.pid()).flatMap(h -> h.info().arguments()).map(a -> String.join(" ", a))
        .orElse("");
    int at = cmd.indexOf("--cache-dir ");
    return at < 0 ? null : Path.of(cmd.substring(at + 12).split(" ")[0]);
  }

  /** A whole pull: manifest by tag, then every blob, each digest checked. */
  static Served pull(KeepAliveClient c, String repo, Digest original) throws IOException {
    KeepAliveClient.Response m = c.request("GET", "/v2/" + repo + "/manifests/1", Map.of("Accept", ACCEPT));
    check(m.status() == 200, "GET " + repo + ":1 -> " + m.status() + " " + new String(m.body()));
    Digest squashed = Digest.sha256(m.body());
    check(squashed.toString().equals(m.header("Docker-Content-Digest")), "digest header of " + repo);
    check(!squashed.equals(original), repo + " was not squashed");
    JsonNode json = JSON.readTree(m.body());
    List<Digest> blobs = new ArrayList<>();
    blobs.add(Digest.parse(json.get("config").get("digest").asText()));
    json.get("layers").forEach(l -> blobs.add(Digest.parse(l.get("digest").asText())));
    Map<Digest, byte[]> bytes = new java.util.HashMap<>();
    for (Digest d : blobs) {
      KeepAliveClient.Response b = c.request("GET", "/v2/" + repo + "/blobs/" + d, Map.of());
      check(b.status() == 200 && Digest.sha256(b.body()).equals(d), "blob " + d + " of " + repo + ": " + b.status());
      bytes.put(d, b.body());
    }
    return new Served(repo, original, squashed, bytes, blobs);
  }

  /** One request of the mix, checked. */
  static void one(KeepAliveClient c, Served img, SplittableRandom r) throws IOException {
    int pick = r.nextInt(100);
    String base = "/v2/" + img.repo();
    if (pick < 35) {
      KeepAliveClient.Response m = c.request("GET", base + "/manifests/1", Map.of("Accept", ACCEPT));
      check(m.status() == 200 && Digest.sha256(m.body()).equals(img.squashed()), "manifest " + img.repo() + ": "
          + m.status());
    } else if (pick < 45) {
      KeepAliveClient.Response m = c.request("HEAD", base + "/manifests/1", Map.of("Accept", ACCEPT));
      check(m.status() == 200 && img.squashed().toString().equals(m.header("Docker-Content-Digest")),
          "HEAD " + img.repo() + ": " + m.status());
    } else if (pick < 50) {
      KeepAliveClient.Response m = c.request("GET", base + "/manifests/" + img.original(), Map.of("Accept", ACCEPT));
      check(m.status() == 200 && Digest.sha256(m.body()).equals(img.original()), "original " + img.repo() + ": "
          + m.status());
    } else if (pick < 85) {
      Digest d = img.blobList().get(r.nextInt(img.blobList().size()));
      KeepAliveClient.Response b = c.request("GET", base + "/blobs/" + d, Map.of());
      check(b.status() == 200 && Digest.sha256(b.body()).equals(d), "blob " + d + ": " + b.status());
    } else {
      Digest d = img.blobList().get(r.nextInt(img.blobList().size()));
      byte[] want = img.blobs().get(d);
      int from = r.nextInt(want.length);
      int to = from + r.nextInt(want.length - from);
      KeepAliveClient.Response b = c.request("GET", base + "/blobs/" + d, Map.of("Range", "bytes=" + from + "-" + to));
      check(b.status() == 206 && Arrays.equals(b.body(), Arrays.copyOfRange(want, from, to + 1)),
          "range " + from + "-" + to + " of " + d + ": " + b.status());
    }
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError(what);
    }
  }
}
