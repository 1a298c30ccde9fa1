package io.squashproxy.proxy.testing;

import java.io.IOException;
import java.io.InputStream;

/**
 * An upstream body that sends its bytes only as far as the test allows ({@link #allow}), so a test can
 * see what a client got while upstream has not sent the rest: no sleeps, no timing.
 */
public final class Trickle extends InputStream {
  private final byte[] bytes;
  private long allowed;
  private int pos;
  private boolean failAtLimit;

  public Trickle(byte[] bytes, long allowed) {
    this.bytes = bytes;
    this.allowed = allowed;
  }

  /** Lets upstream send up to {@code n} bytes in all. */
  public synchronized void allow(long n) {
    allowed = Math.max(allowed, n);
    notifyAll();
  }

  /** Upstream breaks the connection once it reaches what is allowed (a body cut short). */
  public synchronized void breakAtLimit() {
    failAtLimit = true;
    notifyAll();
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public synchronized int read(byte[] b, int off, int len) throws IOException {
    while (pos >= allowed && pos < bytes.length) {
      if (failAtLimit) {
        throw new IOException("upstream connection reset (test)");
      }
      try {
        wait();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted");
      }
    }
    if (pos >= bytes.length) {
      return -1;
    }
    int n = (int) Math.min(len, Math.min(allowed, bytes.length) - pos);
    System.arraycopy(bytes, pos, b, off, n);
    pos += n;
    return n;
  }
}
