package io.squashproxy.proxy.service;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A broken image is read once: pulls of the same source digest within the TTL get the same refusal without
 * the proxy squashing (reading its layers) again; a new digest for the tag, or the TTL running out, tries
 * afresh. The clock is the harness's ticker: nothing sleeps.
 */
class RefusedImagesTest {
  @TempDir
  Path dir;

  @Test
  void aRefusalIsRememberedBySourceDigestUntilItsTtl() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    byte[] tar = layer().file("data/a", "x".repeat(20_000)).file("data/b", "y").tar();
    byte[] gz = Blobs.gzip(tar);
    Digest broken = up.push("team/app", "1", TestImage.oci().layer(layer().file("etc/os-release", "ID=t"))
        .rawLayer(tar, Arrays.copyOf(gz, gz.length / 2), MediaTypes.OCI_LAYER_GZIP).build());
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      RegistryException first = refusal(h);
      assertEquals(1, h.stats.squashFailures.sum(), "the first pull reads the image");
      int manifestGets = up.manifestGets.get();
      int blobGets = up.totalBlobGets();

      for (int i = 0; i < 5; i++) {
        RegistryException again = refusal(h);
        assertEquals(first.getMessage(), again.getMessage());
        assertEquals(first.detail(), again.detail());
        assertEquals(first.status(), again.status());
      }
      assertEquals(1, h.stats.squashFailures.sum(), "pulls within the TTL do not read the image again");
      assertEquals(manifestGets, up.manifestGets.get());
      assertEquals(blobGets, up.totalBlobGets());
      assertEquals(5, h.service.refused().repeated());
      assertEquals(1.0, h.stats.registry().get("squash_proxy_refused_images").gauge().value());
      assertEquals(5.0, h.stats.registry().get("squash_proxy_refusals_repeated").functionCounter().count());
      assertEquals(1, h.service.refused().all().size());
      assertEquals("team/app@" + broken, h.service.refused().all().get(0).image());
      String page = new io.squashproxy.proxy.admin.StatusPage(h.records, h.tags, h.store, h.stats,
          h.service.refused()).render();
      assertTrue(page.contains("<table id=\"refused\">") && page.contains("team/app@" + broken)
          && page.contains("answered 5 times from memory"), page);

      // Past the TTL the image is read again (and refused again).
      h.advance(RefusedImages.DEFAULT_TTL.plusSeconds(1));
      refusal(h);
      assertEquals(2, h.stats.squashFailures.sum(), "after the TTL the image is tried afresh");

      // The tag moves to a fixed image: tried at once (once the tag's own TTL says to look upstream).
      up.push("team/app", "1", TestImage.oci().layer(layer().file("etc/os-release", "ID=t"))
          .layer(layer().file("data/a", "fixed")).build());
      h.advance(Duration.ofMinutes(6));
      ServedManifest fixed = h.service.manifest(h.route("team/app"), "1").join();
      assertEquals(1, io.squashproxy.core.image.ImageManifest.parse(fixed.bytes()).layers().size());
    }
  }

  private static RegistryException refusal(ProxyHarness h) {
    CompletionException e = assertThrows(CompletionException.class,
        () -> h.service.manifest(h.route("team/app"), "1").join());
    RegistryException r = assertInstanceOf(RegistryException.class, e.getCause());
    assertEquals(ErrorCode.MANIFEST_INVALID, r.code());
    assertTrue(r.getMessage().contains("layer 1"), r.getMessage());
    return r;
  }
}
