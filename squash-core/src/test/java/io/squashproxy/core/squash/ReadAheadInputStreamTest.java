package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ReadAheadInputStreamTest {

  static byte[] random(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }

  @Test
  void passesEveryByteInOrder() throws IOException {
    byte[] data = random(1_000_003);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (InputStream in = new ReadAheadInputStream(new ByteArrayInputStream(data), 4096, 3)) {
      assertEquals(data[0] & 0xff, in.read());
      out.write(data[0]);
      byte[] buf = new byte[1000];
      for (int n; (n = in.read(buf, 0, buf.length)) >= 0; ) {
        out.write(buf, 0, n);
      }
      assertEquals(-1, in.read());
    }
    assertArrayEquals(data, out.toByteArray());
  }

  @Test
  void theSourcesFailureComesAfterTheBytesBeforeIt() throws IOException {
    byte[] data = random(10_000);
    InputStream failing = new InputStream() {
      int pos;

      @Override
      public int read() throws IOException {
        if (pos == data.length) {
          throw new IOException("corrupt at the end");
        }
        return data[pos++] & 0xff;
      }
    };
    try (InputStream in = new ReadAheadInputStream(failing, 1024, 2)) {
      byte[] got = new byte[data.length];
      int n = in.readNBytes(got, 0, got.length);
      assertEquals(data.length, n);
      assertArrayEquals(data, got);
      IOException e = assertThrows(IOException.class, in::read);
      assertEquals("corrupt at the end", e.getMessage());
    }
  }

  @Test
  void closingEarlyStopsTheThreadAndClosesTheSource() throws Exception {
    CountDownLatch closed = new CountDownLatch(1);
    InputStream endless = new InputStream() {
      @Override
      public int read() {
        return 7;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        java.util.Arrays.fill(b, off, off + len, (byte) 7);
        return len;
      }

      @Override
      public void close() {
        closed.countDown();
      }
    };
    ReadAheadInputStream in = new ReadAheadInputStream(endless, 1024, 2);
    assertEquals(7, in.read());
    in.close();
    assertTrue(closed.await(10, TimeUnit.SECONDS), "source closed");
    assertTrue(!in.readerAlive(), "the read-ahead thread has ended");
  }
}
