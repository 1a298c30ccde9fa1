package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Replicas with different core counts must produce the same squashed digests. */
class SquashThreadsTest {
  @TempDir
  Path work;

  static byte[] content(int size, long seed) {
    Random r = new Random(seed);
    StringBuilder sb = new StringBuilder();
    while (sb.length() < size) {
      sb.append(r.nextInt(5000)).append(r.nextBoolean() ? " usr/lib/x86_64\n" : " etc/apt/sources\n");
    }
    return sb.substring(0, size).getBytes(StandardCharsets.US_ASCII);
  }

  static TestImage image() {
    return TestImage.oci()
        .layer(LayerBuilder.layer().dir("usr/").file("usr/a", content(700_000, 1))
            .file("usr/b", content(90_000, 2)))
        .layer(LayerBuilder.layer().file("usr/c", content(400_000, 3)).whiteout("usr/b"))
        .layer(LayerBuilder.layer().file("usr/a", content(300_001, 4)))
        .build();
  }

  byte[] squash(TestImage img, Compression c, CompressionPool pool, String name) throws IOException {
    SquashResult r = new Squasher(SquashListener.NONE, pool).squash(img.manifest(), img.blobs(),
        SquashOptions.DEFAULT.withCompression(c), work.resolve(name));
    byte[] blob = Files.readAllBytes(r.squashedLayerFile());
    r.deleteLayerFile();
    return blob;
  }

  @Test
  void gzipOutputIsTheSameForOneTwoAndEightThreads() throws IOException, InterruptedException {
    TestImage img = image();
    byte[] reference = null;
    for (int threads : new int[] {1, 2, 8}) {
      CompressionPool pool = CompressionPool.newFixed(threads, "test-squash-gzip");
      try {
        byte[] blob = squash(img, Compression.GZIP, pool, "t" + threads);
        if (reference == null) {
          reference = blob;
          assertTrue(Blobs.decompress(blob).length > 700_000, "the merged tar holds usr/a and usr/c");
        } else {
          assertArrayEquals(reference, blob, threads + " threads");
        }
      } finally {
        ExecutorService e = (ExecutorService) pool.executor();
        e.shutdown();
        assertTrue(e.awaitTermination(10, TimeUnit.SECONDS));
      }
    }
    assertArrayEquals(reference, squash(img, Compression.GZIP, CompressionPool.shared(), "shared"));
  }

  @Test
  void theOptionsTextNamesTheOutputFormat() {
    assertEquals("keep=2 compression=zstd:3 format=" + Squasher.OUTPUT_FORMAT_VERSION,
        SquashOptions.DEFAULT.withKeepLayers(2).withCompression(Compression.ZSTD).describe());
  }
}
