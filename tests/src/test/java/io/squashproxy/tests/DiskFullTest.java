package io.squashproxy.tests;

import static io.squashproxy.tests.FaultsTestSupport.MANIFEST_ACCEPT;
import static io.squashproxy.tests.FaultsTestSupport.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The cache directory on a 20 MiB tmpfs. An image whose blob does not fit, and one whose squash work files
 * do not fit (a squash keeping the base layer spools the others), each fail with a 500 in the spec's envelope
 * that says the storage is full; nothing partial stays, the space comes back, and a small image still pulls.
 * The same 48 MiB image squashed fully needs no work files beyond its small output, and pulls.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DiskFullTest {

  @Test
  void aFullCacheFailsThePullCleanlyAndKeepsServing() throws Exception {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo", "umoci", "mount", "umount");
    Env.requireRoot("mounting a small tmpfs as the cache directory");
    try (Scratch work = Scratch.create("diskfull");
        DistributionRegistry registry = DistributionRegistry.start();
        ImageBuilder small = FaultsTestSupport.smallImage("small")) {
      Path zerosRef;
      try (ImageBuilder huge = FaultsTestSupport.bigImage("huge", 28 * MIB);
          ImageBuilder zeros = ImageBuilder.create("zeros")) {
        Skopeo.copy(huge.skopeoRef(), registry.ref("full/huge:1"), "--format", "v2s2");
        // 48 MiB of zeros: a blob of a few KiB that fits. Squashed fully (one pass, nothing spooled) its output
        // is a few KiB; squashed keeping the base layer, the other layers must be spooled: 48 MiB, which cannot.
        zeros.layer("base", "mkdir -p data && echo zeros > data/name");
        zeros.layer("zeros", "head -c 48M /dev/zero > data/zeros");
        zeros.layer("change", "echo 2 > data/name");
        Skopeo.copy(zeros.skopeoRef(), registry.ref("full/zeros:1"), "--format", "v2s2");
        Skopeo.copy(zeros.skopeoRef(), registry.ref("full/zeros-kept:1"), "--format", "v2s2");
        zerosRef = zeros.unpack(work.resolve("zeros-ref"));
      }
      Skopeo.copy(small.skopeoRef(), registry.ref("full/small:1"), "--format", "v2s2");
      String hugeLayer = FaultsTestSupport.layerDigest(registry.ref("full/huge:1"), 1);

      Path cache = work.dir("cache");
      Proc.of("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", cache.toString()).ok();
      String config = """
          squash:
            rules:
              - { match: "full/zeros-kept", mode: keep, keep: 1 }
              - { match: "**", mode: all }
          """;
      try (ProxyProcess proxy = ProxyProcess.startWithCache("http://" + registry.host(), config, cache)) {
        FileStore fs = Files.getFileStore(cache);
        long baseline = used(fs);

        HttpResponse<byte[]> huge = FaultsTestSupport.get(proxy.url() + "/v2/full/huge/manifests/1",
            MANIFEST_ACCEPT);
        assertStorageFull(huge, "a blob larger than the cache");
        assertFalse(Files.exists(cache.resolve("blobs/sha256/" + hugeLayer.substring(7))));
        FaultsTestSupport.assertCacheConsistent(cache);
        assertTrue(used(fs) - baseline < MIB, "space taken after the failure: " + (used(fs) - baseline));

        HttpResponse<byte[]> kept = FaultsTestSupport.get(proxy.url() + "/v2/full/zeros-kept/manifests/1",
            MANIFEST_ACCEPT);
        assertStorageFull(kept, "squash work files larger than the cache");
        FaultsTestSupport.assertCacheConsistent(cache);
        assertTrue(used(fs) - baseline < MIB, "space taken after the failure: " + (used(fs) - baseline));

        Path zeros = Skopeo.unpack(proxy.ref("full/zeros:1"), work.resolve("zeros-pull"));
        RootfsTree.assertIdentical(zerosRef, zeros, RootfsTree.Options.exact());
        assertEquals(1, proxy.squashes("full/zeros").size(), proxy.tail());
        assertTrue(proxy.tail().contains("one pass"), "the full squash spooled nothing:\n" + proxy.tail());
        FaultsTestSupport.assertCacheConsistent(cache);

        Path rootfs = Skopeo.unpack(proxy.ref("full/small:1"), work.resolve("small-pull"));
        RootfsTree.assertIdentical(small.unpack(work.resolve("small-ref")), rootfs, RootfsTree.Options.exact());
        assertEquals(1, proxy.squashes("full/small").size(), proxy.tail());
        assertEquals(200, FaultsTestSupport.get(proxy.adminUrl() + "/healthz", null).statusCode());
        FaultsTestSupport.assertCacheConsistent(cache);
      } finally {
        Proc.of("umount", cache.toString()).run();
      }
    }
  }

  private static void assertStorageFull(HttpResponse<byte[]> r, String what) {
    JsonNode error = FaultsTestSupport.error(r);
    System.out.printf("[diskfull] %s: %d %s%n", what, r.statusCode(), error);
    assertEquals(500, r.statusCode(), what + ": " + error);
    assertEquals("UNKNOWN", error.path("code").asText(), what);
    assertTrue(error.path("message").asText().contains("storage is full"), what + ": " + error);
  }

  private static long used(FileStore fs) throws IOException {
    return fs.getTotalSpace() - fs.getUnallocatedSpace();
  }
}
