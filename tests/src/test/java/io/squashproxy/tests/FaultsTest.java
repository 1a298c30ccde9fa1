package io.squashproxy.tests;

import static io.squashproxy.tests.FaultsTestSupport.MANIFEST_ACCEPT;
import static io.squashproxy.tests.FaultsTestSupport.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.ThrottledRelay;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * A real Distribution registry that dies: in the middle of a large blob transfer, and while the proxy holds
 * a cached tag. The proxy fails cleanly (the spec's error envelope, nothing partial cached), serves what it
 * has cached, fails fast for what it has not, and recovers when the registry comes back.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FaultsTest {
  static final String BIG = "faults/big";
  static final String SMALL = "faults/small";
  static final String RETRIES = String.join("\n",
      "limits:",
      "  retry: {attempts: 3, baseDelay: 100ms, maxDelay: 400ms}",
      "cache:",
      "  tagTtl: 1s",
      "");

  final List<AutoCloseable> closeLater = new ArrayList<>();
  Scratch work;
  DistributionRegistry registry;
  ImageBuilder small;
  String bigLayer;

  @BeforeAll
  void pushImages() {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo", "umoci");
    work = Scratch.create("faults");
    closeLater.add(work);
    registry = DistributionRegistry.start();
    closeLater.add(registry);
    try (ImageBuilder big = FaultsTestSupport.bigImage("big", 16 * MIB)) {
      Skopeo.copy(big.skopeoRef(), registry.ref(BIG + ":1"), "--format", "v2s2");
    }
    small = FaultsTestSupport.smallImage("small");
    closeLater.add(small);
    Skopeo.copy(small.skopeoRef(), registry.ref(SMALL + ":1"), "--format", "v2s2");
    bigLayer = FaultsTestSupport.layerDigest(registry.ref(BIG + ":1"), 1);
  }

  @AfterEach
  void registryBack() {
    if (!registryUp()) {
      registry.restart();
    }
  }

  @AfterAll
  void cleanUp() {
    Collections.reverse(closeLater);
    Cleanup.closeAll(closeLater);
  }

  @Test
  void theRegistryDiesMidTransferThenComesBack() throws Exception {
    Path cache = work.resolve("cache-midtransfer");
    try (ThrottledRelay slow = ThrottledRelay.start(registry.host(), 4 * MIB);
        ProxyProcess proxy = ProxyProcess.startWithCache(slow.url(), RETRIES, cache)) {
      CompletableFuture<HttpResponse<byte[]>> pull = CompletableFuture.supplyAsync(
          () -> FaultsTestSupport.get(proxy.url() + "/v2/" + BIG + "/blobs/" + bigLayer, null));
      FaultsTestSupport.await("4 MiB on their way", Duration.ofMinutes(2), () -> slow.relayed() > 4 * MIB);
      registry.kill();

      // The cold blob streams through: its 200 and length went out with its first bytes, so the failure can only
      // cut the connection, before the last byte (which waits for the digest check): never a whole bad blob.
      java.util.concurrent.ExecutionException cut = org.junit.jupiter.api.Assertions.assertThrows(
          java.util.concurrent.ExecutionException.class, () -> pull.get(2, TimeUnit.MINUTES));
      System.out.printf("[faults] registry killed mid-transfer: the client's transfer was cut (%s)%n",
          cut.getCause());
      assertTrue(cut.getCause() instanceof java.io.UncheckedIOException, cut.toString());
      assertFalse(Files.exists(cache.resolve("blobs/sha256/" + bigLayer.substring(7))), "a partial blob was cached");
      FaultsTestSupport.assertCacheConsistent(cache);
      String metrics = FaultsTestSupport.metrics(proxy);
      assertTrue(metrics.contains("squash_proxy_upstream_retries_total{reason=\"body\""), metrics);

      registry.restart();
      HttpResponse<byte[]> ok = FaultsTestSupport.get(proxy.url() + "/v2/" + BIG + "/blobs/" + bigLayer, null);
      assertEquals(200, ok.statusCode(), new String(ok.body()));
      assertEquals(bigLayer, FaultsTestSupport.sha256(ok.body()));
      FaultsTestSupport.assertCacheConsistent(cache);
    }
  }

  @Test
  void aDeadRegistryLeavesCachedTagsServedAndFailsFastForTheRest() throws Exception {
    Path cache = work.resolve("cache-down");
    try (ProxyProcess proxy = ProxyProcess.startWithCache("http://" + registry.host(), RETRIES, cache)) {
      Skopeo.copy(proxy.ref(SMALL + ":1"), "oci:" + work.resolve("warm") + ":img");
      registry.kill();
      Thread.sleep(1500); // the tag's TTL (1s) runs out: the proxy has to ask upstream again

      HttpResponse<byte[]> stale = FaultsTestSupport.get(proxy.url() + "/v2/" + SMALL + "/manifests/1",
          MANIFEST_ACCEPT);
      assertEquals(200, stale.statusCode(), new String(stale.body()));
      assertEquals("true", stale.headers().firstValue("X-Squash-Proxy-Stale").orElse(null));
      Path rootfs = Skopeo.unpack(proxy.ref(SMALL + ":1"), work.resolve("stale-pull"));
      RootfsTree.assertIdentical(small.unpack(work.resolve("small-ref")), rootfs, RootfsTree.Options.exact());

      long started = System.nanoTime();
      HttpResponse<byte[]> uncached = FaultsTestSupport.get(proxy.url() + "/v2/" + BIG + "/manifests/1",
          MANIFEST_ACCEPT);
      long millis = (System.nanoTime() - started) / 1_000_000;
      JsonNode error = FaultsTestSupport.error(uncached);
      System.out.printf("[faults] uncached tag with the registry down: %d in %d ms: %s%n", uncached.statusCode(),
          millis, error);
      assertEquals(503, uncached.statusCode());
      assertEquals("UNKNOWN", error.path("code").asText());
      assertTrue(error.path("message").asText().contains("unreachable"), error.toString());
      // Three attempts with 100 ms and 200 ms pauses against a refused port, not the 5 minute request timeout.
      assertTrue(millis < 30_000, "took " + millis + " ms");

      registry.restart();
      HttpResponse<byte[]> fresh = FaultsTestSupport.get(proxy.url() + "/v2/" + SMALL + "/manifests/1",
          MANIFEST_ACCEPT);
      assertEquals(200, fresh.statusCode());
      assertTrue(fresh.headers().firstValue("X-Squash-Proxy-Stale").isEmpty(), "upstream is back");
    }
  }

  private boolean registryUp() {
    try {
      return FaultsTestSupport.get("http://" + registry.host() + "/v2/", null).statusCode() == 200;
    } catch (RuntimeException e) {
      return false;
    }
  }
}
