package io.squashproxy.core.layer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ParallelGzipOutputStreamTest {
  static final int BLOCK = ParallelGzipOutputStream.BLOCK;
  static CompressionPool one;
  static CompressionPool two;
  static CompressionPool eight;

  @BeforeAll
  static void pools() {
    one = CompressionPool.newFixed(1, "test-gzip1");
    two = CompressionPool.newFixed(2, "test-gzip2");
    eight = CompressionPool.newFixed(8, "test-gzip8");
  }

  @AfterAll
  static void stop() throws InterruptedException {
    for (CompressionPool p : List.of(one, two, eight)) {
      ExecutorService e = (ExecutorService) p.executor();
      e.shutdown();
      assertTrue(e.awaitTermination(10, TimeUnit.SECONDS));
    }
  }

  /** Text-like data with long-range repeats (so the dictionary matters) and a stretch of random bytes. */
  static byte[] mixed(int size, long seed) {
    Random r = new Random(seed);
    byte[] b = new byte[size];
    String[] words = {"usr/lib/", "libc.so.6 ", "#include <stdio.h>\n", "Debian ", "package: ", "0123456789"};
    int i = 0;
    while (i < size) {
      if (r.nextInt(500) == 0) {
        int n = Math.min(size - i, r.nextInt(2000));
        for (int k = 0; k < n; k++) {
          b[i++] = (byte) r.nextInt(256);
        }
      } else {
        byte[] w = words[r.nextInt(words.length)].getBytes(StandardCharsets.US_ASCII);
        int n = Math.min(size - i, w.length);
        System.arraycopy(w, 0, b, i, n);
        i += n;
      }
    }
    return b;
  }

  static byte[] gzip(byte[] data, int level, CompressionPool pool, int maxInFlight, int chunk)
      throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream z = new ParallelGzipOutputStream(out, level, pool.executor(), maxInFlight)) {
      for (int off = 0; off < data.length; off += chunk) {
        z.write(data, off, Math.min(chunk, data.length - off));
      }
    }
    return out.toByteArray();
  }

  static byte[] gunzip(byte[] gz) throws IOException {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
      return in.readAllBytes();
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 5 * BLOCK + 4097})
  void roundTripsThroughGzipInputStream(int size) throws IOException {
    byte[] data = mixed(size, size);
    assertArrayEquals(data, gunzip(gzip(data, 6, two, 4, 65536)));
  }

  @Test
  void bytesDependOnlyOnInputAndLevelNeverOnThreadsOrWrites() throws IOException {
    byte[] data = mixed(3_000_000, 7);
    byte[] reference = gzip(data, 6, one, 1, data.length);
    assertArrayEquals(reference, gzip(data, 6, two, 6, 8192));
    assertArrayEquals(reference, gzip(data, 6, eight, 18, 1000));
    assertArrayEquals(reference, gzip(data, 6, eight, 1, 65536));
    assertArrayEquals(reference, gzip(data, 6, new CompressionPool(Runnable::run, 1), 3, 777));
    assertEquals(true, reference.length < data.length / 2);
    byte[] level1 = gzip(data, 1, two, 4, 65536);
    assertTrue(!java.util.Arrays.equals(reference, level1), "the level must matter");
    assertArrayEquals(data, gunzip(level1));
  }

  @Test
  void compressesAboutAsWellAsOneDeflateStream() throws IOException {
    byte[] data = mixed(4_000_000, 11);
    ByteArrayOutputStream single = new ByteArrayOutputStream();
    try (DeflaterOutputStream d = new DeflaterOutputStream(single, new Deflater(6, true))) {
      d.write(data);
    }
    int parallel = gzip(data, 6, two, 6, 65536).length;
    assertTrue(parallel < single.size() * 1.02 + 64,
        "parallel " + parallel + " bytes vs one stream " + single.size());
  }

  @Test
  void gzipToolAcceptsTheOutput(@TempDir Path dir) throws Exception {
    byte[] data = mixed(2 * BLOCK + 99, 5);
    Path gz = dir.resolve("x.gz");
    Files.write(gz, gzip(data, 6, two, 4, 65536));
    Process p = new ProcessBuilder("gzip", "-t", gz.toString()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), output);
    Process cat = new ProcessBuilder("gzip", "-dc", gz.toString()).start();
    byte[] out = cat.getInputStream().readAllBytes();
    assertTrue(cat.waitFor(30, TimeUnit.SECONDS));
    assertArrayEquals(data, out);
  }

  @Test
  void refusesWritesAfterFinish() throws IOException {
    ParallelGzipOutputStream z = new ParallelGzipOutputStream(new ByteArrayOutputStream(), 6, two.executor(), 2);
    z.write(1);
    z.finish();
    assertThrows(IOException.class, () -> z.write(2));
    z.close();
  }

  @Test
  void aFailingSinkFailsTheWriterAndClosesIt() {
    var closed = new boolean[1];
    OutputStream broken = new OutputStream() {
      int n;

      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        n += len;
        if (n > 1000) {
          throw new IOException("disk full");
        }
      }

      @Override
      public void close() {
        closed[0] = true;
      }
    };
    IOException e = assertThrows(IOException.class, () -> {
      try (OutputStream z = new ParallelGzipOutputStream(broken, 6, two.executor(), 2)) {
        z.write(mixed(20 * BLOCK, 3));
      }
    });
    assertEquals("disk full", e.getMessage());
    assertTrue(closed[0]);
  }

  /** The fixed zstd worker setting is safe only because zstd's multithreaded output ignores the count. */
  @Test
  void zstdOutputIsTheSameForAnyWorkerCount() throws IOException {
    byte[] data = mixed(6_000_000, 9);
    byte[] reference = null;
    for (int workers : new int[] {1, 2, 3, 8}) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      try (ZstdOutputStreamNoFinalizer z = new ZstdOutputStreamNoFinalizer(out, 3)) {
        z.setChecksum(true);
        z.setWorkers(workers);
        z.write(data);
      }
      if (reference == null) {
        reference = out.toByteArray();
      } else {
        assertArrayEquals(reference, out.toByteArray(), "workers=" + workers);
      }
    }
    ByteArrayOutputStream viaCompression = new ByteArrayOutputStream();
    try (OutputStream z = Compression.ZSTD.compress(viaCompression)) {
      z.write(data);
    }
    assertArrayEquals(reference, viaCompression.toByteArray());
  }
}
