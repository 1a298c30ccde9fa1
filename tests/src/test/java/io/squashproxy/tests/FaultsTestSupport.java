package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RootfsTree;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/** What the fault tests share: their images, and the check that a cache directory holds only whole files. */
final class FaultsTestSupport {
  static final long MIB = 1L << 20;
  static final String MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, "
      + "application/vnd.oci.image.manifest.v1+json";

  private FaultsTestSupport() {}

  /**
   * Three layers (a small base, {@code bigBytes} of random data that gzip cannot shrink, a small change): the
   * squash has to write the big file again, which takes seconds, and its blob takes as long to download.
   */
  static ImageBuilder bigImage(String tag, long bigBytes) {
    ImageBuilder b = ImageBuilder.create(tag);
    b.layer("base", "mkdir -p etc data && echo 'faults test' > etc/issue && echo 1 > data/version");
    b.layer("big", rootfs -> writeRandom(rootfs.resolve("data/big.bin"), bigBytes, 11));
    b.layer("change", "echo 2 > data/version && rm etc/issue");
    return b;
  }

  /** Two small layers. */
  static ImageBuilder smallImage(String tag) {
    ImageBuilder b = ImageBuilder.create(tag);
    b.layer("base", "mkdir -p etc app && echo small > etc/issue");
    b.layer("app", "echo 'hello' > app/hello && chmod 0755 app/hello");
    return b;
  }

  /** {@code size} bytes of seeded pseudo-random data, which gzip cannot shrink. */
  static void writeRandom(Path file, long size, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    try (OutputStream out = Files.newOutputStream(file)) {
      for (long left = size; left > 0; ) {
        buf.clear();
        while (buf.hasRemaining()) {
          buf.putLong(rnd.nextLong());
        }
        int n = (int) Math.min(left, buf.capacity());
        out.write(buf.array(), 0, n);
        left -= n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The digest of layer {@code index} of {@code ref} as the registry serves it. */
  static String layerDigest(String ref, int index) {
    return io.squashproxy.tests.support.Skopeo.inspectRaw(ref).path("layers").path(index).path("digest").asText();
  }

  /**
   * The cache holds only whole, verified content: nothing under {@code tmp/}, every blob and manifest file
   * hashes to its name. Returns how many blobs it holds.
   */
  static int assertCacheConsistent(Path cache) throws IOException {
    try (Stream<Path> tmp = Files.list(cache.resolve("tmp"))) {
      assertEquals(List.of(), tmp.toList(), "leftovers under tmp/");
    }
    int blobs = 0;
    List<String> bad = new ArrayList<>();
    for (String dir : List.of("blobs", "manifests")) {
      Path root = cache.resolve(dir);
      if (!Files.isDirectory(root)) {
        continue;
      }
      try (Stream<Path> files = Files.walk(root)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          if (f.getFileName().toString().endsWith(".type")) {
            continue;
          }
          String actual;
          try (InputStream in = Files.newInputStream(f)) {
            actual = RootfsTree.sha256(in);
          }
          if (!actual.equals(f.getFileName().toString())) {
            bad.add(cache.relativize(f) + " holds content with sha256 " + actual);
          }
          blobs += dir.equals("blobs") ? 1 : 0;
        }
      }
    }
    assertEquals(List.of(), bad, "cache files whose content is not what their name says");
    return blobs;
  }

  static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  static HttpResponse<byte[]> get(String url, String accept) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(3));
    if (accept != null) {
      b.header("Accept", accept);
    }
    try {
      return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  static String metrics(ProxyProcess proxy) {
    return new String(get(proxy.adminUrl() + "/metrics", null).body(), java.nio.charset.StandardCharsets.UTF_8);
  }

  /** The first error of a spec error envelope. */
  static JsonNode error(HttpResponse<byte[]> r) {
    try {
      return ImageArchive.JSON.readTree(r.body()).path("errors").path(0);
    } catch (IOException e) {
      throw new AssertionError("not an error envelope: " + new String(r.body()), e);
    }
  }

  static String sha256(byte[] data) {
    try {
      return "sha256:" + RootfsTree.sha256(new java.io.ByteArrayInputStream(data));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Waits up to {@code max} for {@code condition}, polling every 10 ms. */
  static void await(String what, Duration max, java.util.function.BooleanSupplier condition) {
    long deadline = System.nanoTime() + max.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }
}
