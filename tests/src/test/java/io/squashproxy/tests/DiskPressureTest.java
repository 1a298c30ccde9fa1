package io.squashproxy.tests;

import static io.squashproxy.tests.FaultsTestSupport.MANIFEST_ACCEPT;
import static io.squashproxy.tests.FaultsTestSupport.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The cache directory on a 40 MiB tmpfs, below {@code cache.maxSize} (1 GiB), with {@code cache.minFreeSpace:
 * 10MiB}: five images of about 10 MiB of cache each (original and squashed layer of 5 MiB of random data)
 * all pull, because the least recently used blobs are evicted to keep 10 MiB free (without the watermark the
 * fourth fails with "storage is full"). While the later pulls evict, a client keeps fetching an image
 * already cached, and every answer is whole and verified. An image evicted pulls again, the same.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class DiskPressureTest {
  private static final int IMAGES = 5;
  private static final long MIN_FREE = 10 * MIB;

  @Test
  void evictsToKeepTheWatermarkFreeAndServesWhileEvicting() throws Exception {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo", "umoci", "mount", "umount");
    Env.requireRoot("mounting a small tmpfs as the cache directory");
    try (Scratch work = Scratch.create("pressure");
        DistributionRegistry registry = DistributionRegistry.start()) {
      List<Path> refs = new ArrayList<>();
      for (int i = 1; i <= IMAGES; i++) {
        long seed = 100 + i;
        try (ImageBuilder b = ImageBuilder.create("p" + i)) {
          b.layer("base", "mkdir -p etc data && echo " + i + " > etc/issue");
          b.layer("random", root -> FaultsTestSupport.writeRandom(root.resolve("data/big.bin"), 5 * MIB, seed));
          b.layer("change", "echo changed > etc/issue");
          Skopeo.copy(b.skopeoRef(), registry.ref("press/i" + i + ":1"), "--format", "v2s2");
          refs.add(b.unpack(work.resolve("ref-" + i)));
        }
      }

      Path cache = work.dir("cache");
      Proc.of("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", cache.toString()).ok();
      String config = "cache:\n  maxSize: 1GiB\n  minFreeSpace: 10MiB\n";
      try (ProxyProcess proxy = ProxyProcess.startWithCache("http://" + registry.host(), config, cache)) {
        Path rootfs = Skopeo.unpack(proxy.ref("press/i1:1"), work.resolve("pull-1"));
        RootfsTree.assertIdentical(refs.get(0), rootfs, RootfsTree.Options.exact());

        // A client fetching image 1's squashed manifest and blobs by digest for as long as the others pull.
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger served = new AtomicInteger();
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread reader = new Thread(() -> {
          while (!done.get() && failures.isEmpty()) {
            fetchWhole(proxy, "press/i1", served, failures);
          }
        });
        reader.start();
        try {
          for (int i = 2; i <= IMAGES; i++) {
            Path pulled = Skopeo.unpack(proxy.ref("press/i" + i + ":1"), work.resolve("pull-" + i));
            RootfsTree.assertIdentical(refs.get(i - 1), pulled, RootfsTree.Options.exact());
            long free = Files.getFileStore(cache).getUsableSpace();
            System.out.printf("[pressure] image %d pulled: %.1f MiB free%n", i, free / (double) MIB);
            assertTrue(free >= MIN_FREE - MIB, "free after pull " + i + ": " + free);
          }
        } finally {
          done.set(true);
          reader.join();
        }
        assertEquals(List.of(), failures);
        assertTrue(served.get() > 0, "the reader was served while the cache evicted");

        String metrics = FaultsTestSupport.metrics(proxy);
        Matcher m = Pattern.compile("squash_proxy_cache_pressure_evictions_total\\{type=\"blob\"\\} ([0-9.]+)")
            .matcher(metrics);
        assertTrue(m.find() && Double.parseDouble(m.group(1)) > 0, metrics);
        assertTrue(metrics.contains("squash_proxy_cache_free_bytes"), metrics);
        System.out.printf("[pressure] %s evictions to keep the watermark, reader served %d times%n", m.group(1),
            served.get());

        // Image 2, the least recently used, was evicted along the way: made again, the same.
        Path again = Skopeo.unpack(proxy.ref("press/i2:1"), work.resolve("pull-2-again"));
        RootfsTree.assertIdentical(refs.get(1), again, RootfsTree.Options.exact());
        FaultsTestSupport.assertCacheConsistent(cache);
      } finally {
        Proc.of("umount", cache.toString()).run();
      }
    }
  }

  /** The image's manifest by tag, then each blob it names, each checked against its digest. */
  private static void fetchWhole(ProxyProcess proxy, String repo, AtomicInteger served, List<String> failures) {
    HttpResponse<byte[]> m = FaultsTestSupport.get(proxy.url() + "/v2/" + repo + "/manifests/1", MANIFEST_ACCEPT);
    if (m.statusCode() != 200) {
      failures.add("manifest: " + m.statusCode() + " " + new String(m.body()));
      return;
    }
    try {
      JsonNode manifest = ImageArchive.JSON.readTree(m.body());
      List<String> digests = new ArrayList<>();
      digests.add(manifest.path("config").path("digest").asText());
      manifest.path("layers").forEach(l -> digests.add(l.path("digest").asText()));
      for (String d : digests) {
        HttpResponse<byte[]> b = FaultsTestSupport.get(proxy.url() + "/v2/" + repo + "/blobs/" + d, null);
        if (b.statusCode() != 200 || !FaultsTestSupport.sha256(b.body()).equals(d)) {
          failures.add("blob " + d + ": " + b.statusCode());
          return;
        }
        served.incrementAndGet();
      }
    } catch (java.io.IOException e) {
      failures.add(e.toString());
    }
  }
}
