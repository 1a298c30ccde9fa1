package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #13: 10 concurrent cold pulls of one image with {@code wait: 0s}, over HTTP: each gets the original
 * image whole and verified, the background squash reads the same downloads, and upstream sees one GET per
 * blob; the pull after the squash gets one layer.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConcurrentColdPullTest {
  private static final String MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json";

  @TempDir Path dir;

  @Test
  void tenConcurrentColdPullsMakeOneUpstreamGetPerBlob() throws Exception {
    byte[] random = new byte[2 << 20];
    new Random(7).nextBytes(random);
    TestImage img = TestImage.docker()
        .layer(LayerBuilder.layer().dir("etc").file("etc/os-release", "ID=test\n"))
        .layer(LayerBuilder.layer().dir("data").file("data/random", random))
        .layer(LayerBuilder.layer().file("app", "#!/bin/sh\n"))
        .build();
    InMemoryRegistry up = new InMemoryRegistry("up");
    Digest original = up.push("library/app", "1.0", img);
    Rules noWait = new Rules(List.of(SquashRule.all("**").withWait(Duration.ZERO)));
    ExecutorService squashWorker = Executors.newSingleThreadExecutor();
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), noWait, squashWorker);
        LiveProxy proxy = new LiveProxy(h, 60)) {
      HttpClient http = HttpClient.newHttpClient();
      List<CompletableFuture<Digest>> pulls = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        pulls.add(CompletableFuture.supplyAsync(() -> pull(http, proxy)));
      }
      for (CompletableFuture<Digest> p : pulls) {
        assertEquals(original, p.join(), "the first pulls get the original image");
      }
      for (Digest d : img.layerDigests()) {
        assertEquals(1, up.blobGets(d), "one upstream GET for " + d);
      }
      assertEquals(1, up.blobGets(img.configDigest()));
      // The background squash was queued on the one squash worker before the first answer went out: a task
      // queued after it runs once it is done.
      squashWorker.submit(() -> { }).get();
      Digest after = Digest.parse(manifest(http, proxy).headers().firstValue("Docker-Content-Digest").orElseThrow());
      assertNotEquals(original, after, "squashed once its background squash finished");
      assertEquals(1, h.stats.squashes.sum());
      for (Digest d : img.layerDigests()) {
        assertEquals(1, up.blobGets(d), "still one upstream GET for " + d);
      }
    } finally {
      squashWorker.shutdownNow();
    }
  }

  private static HttpResponse<byte[]> manifest(HttpClient http, LiveProxy proxy) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(proxy.url() + "/v2/app/manifests/1.0"))
          .header("Accept", MANIFEST_TYPES).build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }

  /** Pulls the image by tag, checking every blob's digest; returns the manifest digest it got. */
  private static Digest pull(HttpClient http, LiveProxy proxy) {
    try {
      HttpResponse<byte[]> m = manifest(http, proxy);
      assertEquals(200, m.statusCode());
      ImageManifest parsed = ImageManifest.parse(m.body());
      List<Descriptor> blobs = new ArrayList<>(parsed.layers());
      blobs.add(parsed.config());
      for (Descriptor d : blobs) {
        HttpResponse<byte[]> b = http.send(HttpRequest.newBuilder(URI.create(proxy.url() + "/v2/app/blobs/"
            + d.digest())).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, b.statusCode());
        assertEquals(d.digest(), Digest.sha256(b.body()), "byte-exact");
      }
      return Digest.sha256(m.body());
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }
}
