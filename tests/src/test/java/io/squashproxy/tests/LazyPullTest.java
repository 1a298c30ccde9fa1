package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.StargzSnapshotter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The lazy pulling harness works: containerd with the stargz snapshotter pulls an eStargz image (made by the
 * reference converter, {@code ctr-remote images convert --estargz}) from a Distribution registry without
 * fetching its layer, runs {@code cat} of a small file in it, and in all reads a small part of the layer with
 * range requests; the large file beside it is never fetched. {@link ProxyLazyPullTest} points this at the
 * proxy's eStargz output.
 */
class LazyPullTest {

  static final String HELLO = "read lazily through FUSE\n";
  /** Incompressible, so that the layer's size is mostly this file's, and fetching it would show. */
  private static final int BIG = 16 << 20;
  static final String TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";

  @Test
  void catOfOneFileFetchesAFractionOfTheLayerWithRangedReads() {
    Path busybox = Env.busybox();
    try (AccessLogRegistry registry = AccessLogRegistry.start();
        StargzSnapshotter stargz = StargzSnapshotter.start(
            StargzSnapshotter.Config.plainHttp(registry.host()).withoutBackgroundFetch())) {
      String plain = registry.host() + "/lazypull/plain:1";
      String lazy = registry.host() + "/lazypull/estargz:1";
      try (ImageBuilder image = ImageBuilder.create("t")) {
        image.layer("busybox, a small file and a big one", rootfs -> fill(rootfs, busybox));
        Skopeo.copy(image.skopeoRef(), "docker://" + plain);
      }
      stargz.convertAndPush(plain, lazy);

      JsonNode layers = registry.manifest("lazypull/estargz", "1").json().path("layers");
      assertEquals(1, layers.size(), "layers of the converted image: " + layers);
      JsonNode layer = layers.get(0);
      assertTrue(layer.path("annotations").has(TOC_DIGEST), "not an eStargz layer: " + layer);
      String blob = "/v2/lazypull/estargz/blobs/" + layer.get("digest").asText();
      long layerSize = layer.get("size").asLong();
      int before = registry.settledRequests().size();

      stargz.rpull(lazy);
      assertEquals(HELLO, stargz.run(lazy, "cat", "/data/hello.txt"));

      long fetched = assertRangedReadsOnly(registry, before, blob, layerSize);
      System.out.printf("[lazy-pull] rpull and cat fetched %d of the layer's %d bytes%n", fetched, layerSize);
      // Footer, table of contents, /bin/busybox (about 1 MB compressed) and the small file: the 16 MiB
      // file stays in the registry.
      assertTrue(fetched > 0 && fetched < layerSize / 4, fetched + " bytes fetched of the layer " + blob
          + " (" + layerSize + " bytes)");

      assertEquals(List.of(), stargz.stop(), "mounts the stargz snapshotter left below " + stargz.root());
    }
  }

  /**
   * The blob GETs {@code registry} logged after its first {@code before} requests for {@code blobUri}: there
   * is at least one ranged read ({@code 206}) and no whole-blob read ({@code 200}). Returns the bytes they sent.
   */
  static long assertRangedReadsOnly(AccessLogRegistry registry, int before, String blobUri, long layerSize) {
    List<AccessLogRegistry.Request> reads = registry.settledRequests().stream().skip(before)
        .filter(r -> r.method().equals("GET") && r.uri().startsWith(blobUri)).toList();
    String log = "layer " + blobUri + " (" + layerSize + " bytes), its GETs: " + reads;
    assertTrue(reads.stream().anyMatch(r -> r.status() == 206), "no ranged read of the " + log);
    assertFalse(reads.stream().anyMatch(r -> r.status() == 200), "a whole-blob read of the " + log);
    return reads.stream().mapToLong(AccessLogRegistry.Request::bytes).sum();
  }

  /** A static busybox with {@code sh} and {@code cat}, {@code /data/hello.txt}, and {@code /data/big.bin}. */
  static void fill(Path rootfs, Path busybox) {
    try {
      Path bin = Files.createDirectories(rootfs.resolve("bin"));
      Files.copy(busybox, bin.resolve("busybox"), StandardCopyOption.COPY_ATTRIBUTES);
      Files.createSymbolicLink(bin.resolve("sh"), Path.of("busybox"));
      Files.createSymbolicLink(bin.resolve("cat"), Path.of("busybox"));
      Path data = Files.createDirectories(rootfs.resolve("data"));
      Files.writeString(data.resolve("hello.txt"), HELLO);
      Random random = new Random(15);
      byte[] chunk = new byte[1 << 16];
      try (OutputStream out = Files.newOutputStream(data.resolve("big.bin"))) {
        for (int i = 0; i < BIG / chunk.length; i++) {
          random.nextBytes(chunk);
          out.write(chunk);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
