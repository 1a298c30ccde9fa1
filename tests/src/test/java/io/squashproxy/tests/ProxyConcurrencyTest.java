package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Twenty clients pull one image through the proxy process at the same moment, cold: each is a real HTTP
 * client of its own (java.net.http, one connection pool each) that asks for the manifest by tag, then for
 * the config and every layer, checking each digest. The proxy must squash once, resolve the tag once (one
 * HEAD), fetch the manifest once and each upstream blob once (counted in the Distribution registry's access
 * log), and every client must get the same squashed image. Twenty more pulls afterwards must not touch
 * upstream blobs at all.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ProxyConcurrencyTest {

  static final int CLIENTS = 20;
  static final String REPO = "load/app";
  static final String TAG = "1";

  static ImageBuilder image;
  static AccessLogRegistry registry;
  static ProxyProcess proxy;
  static RawManifest original;

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners");
    Env.requireTools("docker-registry", "umoci", "skopeo");
    image = ImageBuilder.create("load");
    // Incompressible content, so the squash takes long enough for the clients to pile up behind it.
    image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
    image.layer("big", "head -c 3000000 /dev/urandom > data/big1 && echo one > data/a");
    image.layer("replace", "rm data/big1 && head -c 1000000 /dev/urandom > data/big2 && echo two > data/a");
    image.layer("small", "echo done > data/done && chmod 640 data/a");
    registry = AccessLogRegistry.start();
    Skopeo.copy(image.skopeoRef(), registry.ref(REPO + ":" + TAG), "--format", "v2s2");
    original = registry.manifest(REPO, TAG);
    assertEquals(4, original.layerDigests().size());
    proxy = ProxyProcess.start(registry.url());
  }

  @AfterAll
  static void tearDown() {
    try {
      if (proxy != null) {
        proxy.close();
      }
    } finally {
      try {
        if (registry != null) {
          registry.close();
        }
      } finally {
        if (image != null) {
          image.close();
        }
      }
    }
  }

  /** What one client got. */
  record Pull(String manifestDigest, int layers, long bytes, long millis) {}

  /** One client: manifest by tag, then config and layers, each digest checked. */
  static Pull pull(HttpClient http, String base) throws IOException, InterruptedException {
    long t0 = System.nanoTime();
    HttpResponse<byte[]> m = http.send(HttpRequest.newBuilder(URI.create(base + "/manifests/" + TAG))
        .header("Accept", AccessLogRegistry.MANIFEST_ACCEPT).timeout(Duration.ofMinutes(3)).GET().build(),
        HttpResponse.BodyHandlers.ofByteArray());
    if (m.statusCode() != 200) {
      throw new AssertionError("GET manifest: " + m.statusCode() + " " + new String(m.body()));
    }
    RawManifest manifest = RawManifest.of(m);
    if (!manifest.sha256().equals(manifest.digestHeader())) {
      throw new AssertionError("Docker-Content-Digest " + manifest.digestHeader() + " for a body of "
          + manifest.sha256());
    }
    long bytes = m.body().length;
    JsonNode json = manifest.json();
    List<JsonNode> blobs = new ArrayList<>();
    blobs.add(json.get("config"));
    json.get("layers").forEach(blobs::add);
    for (JsonNode d : blobs) {
      String digest = d.get("digest").asText();
      HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(base + "/blobs/" + digest))
          .timeout(Duration.ofMinutes(3)).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
      if (r.statusCode() != 200) {
        r.body().close();
        throw new AssertionError("GET blob " + digest + ": " + r.statusCode());
      }
      MessageDigest md = RootfsTree.sha256();
      long n = 0;
      try (InputStream in = r.body()) {
        byte[] buf = new byte[1 << 16];
        int k;
        while ((k = in.read(buf)) > 0) {
          md.update(buf, 0, k);
          n += k;
        }
      }
      String got = "sha256:" + HexFormat.of().formatHex(md.digest());
      if (!got.equals(digest) || n != d.get("size").asLong()) {
        throw new AssertionError("blob " + digest + ": got " + got + ", " + n + " bytes (expected "
            + d.get("size").asLong() + ")");
      }
      bytes += n;
    }
    return new Pull(manifest.sha256(), json.get("layers").size(), bytes, (System.nanoTime() - t0) / 1_000_000);
  }

  /** {@code CLIENTS} pulls released at once by a barrier, each with its own HTTP client. */
  static List<Pull> pullAtOnce() throws Exception {
    String base = proxy.url() + "/v2/" + REPO;
    CyclicBarrier start = new CyclicBarrier(CLIENTS);
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<Pull>> futures = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        futures.add(pool.submit(() -> {
          HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(10)).build();
          start.await(1, TimeUnit.MINUTES);
          return pull(http, base);
        }));
      }
      List<Pull> out = new ArrayList<>();
      for (Future<Pull> f : futures) {
        out.add(f.get(5, TimeUnit.MINUTES));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twentyConcurrentColdPullsShareOneSquashAndOneUpstreamGetPerBlob() throws Exception {
    long t0 = System.nanoTime();
    List<Pull> cold = pullAtOnce();
    long coldMs = (System.nanoTime() - t0) / 1_000_000;

    Set<String> digests = new TreeSet<>();
    cold.forEach(p -> digests.add(p.manifestDigest()));
    assertEquals(1, digests.size(), "every client must get the same squashed manifest: " + digests);
    cold.forEach(p -> assertEquals(1, p.layers()));
    assertEquals(1, proxy.squashLineCount(), "exactly one squash:\n" + proxy.tail());
    ProxyProcess.Squash squash = proxy.squashes(REPO).get(0);
    assertEquals(original.sha256(), squash.source());
    assertEquals(digests.iterator().next(), squash.result());
    assertEquals(4, squash.layersBefore());

    Map<String, Integer> gets = registry.blobGets(REPO);
    assertEquals(new TreeSet<>(original.blobDigests()), gets.keySet(), "upstream blob GETs: " + gets);
    gets.forEach((d, n) -> assertEquals(1, n, "upstream GETs of " + d + ": " + gets));
    // The tag is resolved with one HEAD and the manifest fetched with one GET (Docker Hub counts every
    // manifest GET as a pull against its rate limit), however many clients ask at once.
    int manifestGets = registry.manifestRequests(REPO, "GET");
    int manifestHeads = registry.manifestRequests(REPO, "HEAD");
    assertEquals(1, manifestHeads, "upstream manifest HEADs (tag lookups)");
    assertEquals(1, manifestGets, "upstream manifest GETs");

    // Warm: the same again, all from the cache.
    t0 = System.nanoTime();
    List<Pull> warm = pullAtOnce();
    long warmMs = (System.nanoTime() - t0) / 1_000_000;
    warm.forEach(p -> assertEquals(digests.iterator().next(), p.manifestDigest()));
    assertEquals(gets, registry.blobGets(REPO), "warm pulls must not fetch blobs upstream");
    assertEquals(1, proxy.squashLineCount(), "warm pulls must not squash");

    long maxCold = cold.stream().mapToLong(Pull::millis).max().orElseThrow();
    long minCold = cold.stream().mapToLong(Pull::millis).min().orElseThrow();
    long maxWarm = warm.stream().mapToLong(Pull::millis).max().orElseThrow();
    assertTrue(cold.get(0).bytes() > 1_000_000);
    System.out.printf("[concurrency] %d clients: layers %d -> 1, %d -> %d compressed bytes; cold: all done in %d ms"
        + " (per client %d..%d ms), 1 squash (%s), upstream blob GETs %s, upstream manifest GETs %d, HEADs %d;"
        + " warm: all done in %d ms (slowest %d ms), +0 upstream blob GETs%n", CLIENTS,
        original.layerDigests().size(), original.layerBytes(), cold.get(0).bytes(), coldMs, minCold, maxCold,
        squash.details(), gets.values(), manifestGets, manifestHeads, warmMs, maxWarm);
  }
}
