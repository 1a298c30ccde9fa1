package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProcessCensus;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.StargzSnapshotter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #15 end to end: containerd with the stargz snapshotter, pointed at the proxy (plain http, no background
 * fetch), lazily pulls the proxy's eStargz squash of a three-layer image with waste (busybox, a small file and
 * a 16 MiB incompressible one; a 4 MiB file added and deleted), and {@code cat} of the small file works. The
 * proxy sent a small part of the layer, all of it as ranged reads sent zero-copy (its metrics), never the
 * whole blob (its access log). The same squash in gzip, converted by the reference converter ({@code ctr-remote
 * images convert --estargz --oci}) and pushed to Distribution, pulls lazily the same way: the proxy's eStargz
 * is as lazy as the reference's, and about as big.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ProxyLazyPullTest {

  static final String RULES = String.join("\n",
      "squash:",
      "  rules:",
      "    - match: 'estargz/**'",
      "      mode: all",
      "      compression: estargz",
      "      estargz: {prioritize: [/bin/busybox, /data/hello.txt]}",
      "    - {match: '**', mode: all}",
      "logging: {accessLog: true}",
      "");
  static final String RANGE_BYTES = "squash_proxy_blob_range_bytes_total";
  static final String RANGE_REQUESTS = "squash_proxy_blob_range_requests_total";

  @Test
  void theProxysEstargzSquashPullsLazilyAsTheReferenceConversionOfItsGzipSquashDoes() {
    Env.squashJar();
    Path busybox = Env.busybox();
    try (AccessLogRegistry registry = AccessLogRegistry.start();
        ImageBuilder image = ImageBuilder.create("lazy")) {
      image.layer("busybox, a small file and a big one", rootfs -> LazyPullTest.fill(rootfs, busybox))
          .layer("add a 4 MiB file", "head -c 4194304 /dev/urandom > data/waste.bin")
          .layer("delete it", "rm data/waste.bin");
      Skopeo.copy(image.skopeoRef(), registry.ref("estargz/app:1"), "--format", "oci");
      Skopeo.copy(image.skopeoRef(), registry.ref("gzip/app:1"), "--format", "oci");
      try (ProxyProcess proxy = ProxyProcess.startDefault(registry.url(), RULES);
          StargzSnapshotter stargz = StargzSnapshotter.start(
              StargzSnapshotter.Config.plainHttp(proxy.host(), registry.host()).withoutBackgroundFetch())) {
        // The squash runs here (the rule waits for it), so that the lazy pull reads from the cache.
        RawManifest served = proxy.manifest("estargz/app", "1");
        assertEquals(1, served.layerDigests().size(), served.json().toString());
        JsonNode layer = served.json().path("layers").get(0);
        assertTrue(layer.path("annotations").has(LazyPullTest.TOC_DIGEST), "not an eStargz layer: " + layer);
        long layerSize = layer.path("size").asLong();
        String blob = "/v2/estargz/app/blobs/" + layer.path("digest").asText();
        long bytes0 = metric(proxy, RANGE_BYTES, null);
        long zeroCopy0 = metric(proxy, RANGE_REQUESTS, "send=\"zero-copy\"");
        long copied0 = metric(proxy, RANGE_REQUESTS, "send=\"copied\"");

        String ref = proxy.image("estargz/app:1");
        stargz.rpull(ref);
        assertEquals(LazyPullTest.HELLO, stargz.run(ref, "cat", "/data/hello.txt"));

        long fetched = metric(proxy, RANGE_BYTES, null) - bytes0;
        long zeroCopy = metric(proxy, RANGE_REQUESTS, "send=\"zero-copy\"") - zeroCopy0;
        List<ProxyProcess.Access> gets = proxy.accessLog().stream()
            .filter(a -> a.method().equals("GET") && a.uri().startsWith(blob)).toList();
        String what = "the proxy's eStargz layer " + blob + " (" + layerSize + " bytes); its GETs: " + gets;
        assertTrue(zeroCopy > 0, "no ranged read sent zero-copy of " + what);
        assertEquals(copied0, metric(proxy, RANGE_REQUESTS, "send=\"copied\""), "ranged reads copied: " + what);
        assertTrue(gets.stream().noneMatch(a -> a.status() == 200), "a whole-blob read of " + what);
        assertTrue(fetched > 0 && fetched < layerSize / 4, fetched + " bytes sent of " + what);

        // The reference converter's eStargz of the same squash (the proxy's gzip one), from Distribution.
        String converted = registry.host() + "/converted/app:1";
        stargz.convertAndPush(proxy.image("gzip/app:1"), converted);
        JsonNode refLayer = registry.manifest("converted/app", "1").json().path("layers").get(0);
        assertTrue(refLayer.path("annotations").has(LazyPullTest.TOC_DIGEST), "not eStargz: " + refLayer);
        long refSize = refLayer.path("size").asLong();
        int before = registry.settledRequests().size();
        stargz.rpull(converted);
        assertEquals(LazyPullTest.HELLO, stargz.run(converted, "cat", "/data/hello.txt"));
        long refFetched = LazyPullTest.assertRangedReadsOnly(registry, before,
            "/v2/converted/app/blobs/" + refLayer.path("digest").asText(), refSize);
        System.out.printf("[proxy-lazy-pull] proxy eStargz: %d of %d bytes sent in %d zero-copy ranged reads;"
            + " reference conversion: %d of %d bytes%n", fetched, layerSize, zeroCopy, refFetched, refSize);
        assertTrue(refFetched > 0 && refFetched < refSize / 4, refFetched + " of " + refSize);
        // Same files, both gzip: the layers are about as big (the big file dominates both).
        assertTrue(Math.abs(layerSize - refSize) < refSize / 10, layerSize + " vs the reference's " + refSize);

        assertEquals(List.of(), stargz.stop(), "mounts the stargz snapshotter left below " + stargz.root());
      }
    }
  }

  private static long metric(ProxyProcess proxy, String name, String labels) {
    return ProcessCensus.metric(proxy.adminUrl(), name, labels);
  }
}
