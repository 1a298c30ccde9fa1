package io.squashproxy.core.layer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.testing.Blobs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CompressionTest {
  static final byte[] DATA = data();

  static byte[] data() {
    byte[] b = new byte[300_000];
    Random r = new Random(3);
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) (r.nextInt(8) + (i % 100 == 0 ? r.nextInt(200) : 0));
    }
    return b;
  }

  static byte[] compress(Compression c, byte[] data) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream z = c.compress(out)) {
      z.write(data);
    }
    return out.toByteArray();
  }

  static byte[] decompress(byte[] blob) throws IOException {
    try (InputStream in = Compression.decompress(new ByteArrayInputStream(blob))) {
      return in.readAllBytes();
    }
  }

  @Test
  void parsesSettings() {
    assertEquals(Compression.GZIP, Compression.parse("gzip"));
    assertEquals(new Compression(Compression.Algorithm.GZIP, 9), Compression.parse(" GZIP:9 "));
    assertEquals(Compression.ZSTD, Compression.parse("zstd"));
    assertEquals(new Compression(Compression.Algorithm.ZSTD, 19), Compression.parse("zstd:19"));
    assertEquals(Compression.NONE, Compression.parse("none"));
    assertEquals(Compression.NONE, Compression.parse("uncompressed"));
    for (String bad : new String[] {"brotli", "gzip:0", "gzip:10", "zstd:23", "zstd:x", "gzip:", ""}) {
      assertThrows(IllegalArgumentException.class, () -> Compression.parse(bad), bad);
    }
    assertEquals("gzip:6", Compression.GZIP.toString());
    assertEquals(Compression.parse("zstd:7"), Compression.parse(Compression.parse("zstd:7").toString()));
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip:1", "gzip:6", "gzip:9", "zstd:1", "zstd:3", "none"})
  void roundTripsAndIsReproducible(String setting) throws IOException {
    Compression c = Compression.parse(setting);
    byte[] a = compress(c, DATA);
    assertArrayEquals(a, compress(c, DATA), "same input, same bytes");
    assertArrayEquals(DATA, decompress(a));
    assertArrayEquals(DATA, Blobs.decompress(a), "independent decoder agrees");
    if (c.algorithm() == Compression.Algorithm.GZIP) {
      assertTrue(Blobs.isGzip(a));
      assertEquals(0, a[4] | a[5] | a[6] | a[7], "no mtime in the gzip header");
    } else if (c.algorithm() == Compression.Algorithm.ZSTD) {
      assertTrue(Blobs.isZstd(a));
    }
  }

  @Test
  void gzipLevelsDiffer() throws IOException {
    assertFalse(Arrays.equals(compress(Compression.parse("gzip:1"), DATA), compress(Compression.parse("gzip:9"),
        DATA)));
  }

  @Test
  void detectsByMagicNotByName() throws IOException {
    assertArrayEquals(DATA, decompress(Blobs.gzip(DATA)));
    assertArrayEquals(DATA, decompress(Blobs.zstd(DATA)));
    assertArrayEquals(DATA, decompress(DATA));
    assertArrayEquals(new byte[] {1}, decompress(new byte[] {1}));
    assertArrayEquals(new byte[0], decompress(new byte[0]));
  }

  @Test
  void truncatedOrCorruptStreamsFail() throws IOException {
    byte[] gz = Blobs.gzip(DATA);
    byte[] z = Blobs.zstd(DATA);
    assertThrows(IOException.class, () -> decompress(Arrays.copyOf(gz, gz.length / 2)));
    assertThrows(IOException.class, () -> decompress(Arrays.copyOf(gz, gz.length - 3)));
    assertThrows(IOException.class, () -> decompress(Arrays.copyOf(z, z.length / 2)));
    byte[] badGz = gz.clone();
    for (int i = 100; i < 140; i++) {
      badGz[i] ^= 0x33;
    }
    assertThrows(IOException.class, () -> decompress(badGz));
    // Frames written here carry a content checksum, so corruption is caught by the decoder itself.
    // (A frame without one may decode to garbage silently; the squash then fails on the diff_id.)
    byte[] badZ = compress(Compression.ZSTD, DATA);
    for (int i = 100; i < 140; i++) {
      badZ[i] ^= 0x33;
    }
    assertThrows(IOException.class, () -> decompress(badZ));
  }
}
