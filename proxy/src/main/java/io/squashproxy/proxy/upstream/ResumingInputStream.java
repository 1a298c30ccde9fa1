package io.squashproxy.proxy.upstream;

import io.squashproxy.core.io.SingleByte;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Optional;

/**
 * A blob body that survives a connection reset, a truncation or a stall mid-transfer: it asks upstream
 * again from where it broke off ({@code Range}), or from the start, skipping what it already passed on, when
 * upstream ignores ranges. The bytes all end in the caller's digest check, so a resumed body that differs is
 * still caught there. Gives up, as an {@link UpstreamException} with status 502, after the
 * {@link RetryPolicy}'s attempts.
 */
final class ResumingInputStream extends InputStream {

  /** Opens the body again at {@code offset}: its first byte is the blob's byte {@code offset}. */
  interface Reopener {
    InputStream open(long offset) throws IOException;
  }

  private final String what;
  private final Retrier retrier;
  private final Reopener reopener;
  private final long length;
  private InputStream in;
  private long position;
  private int failures;
  private boolean closed;

  /** @param length the blob's size as upstream announced it, or -1: an end before it is a break */
  ResumingInputStream(String what, InputStream first, long length, Retrier retrier, Reopener reopener) {
    this.what = what;
    this.length = length;
    this.in = first;
    this.retrier = retrier;
    this.reopener = reopener;
  }

  @Override
  public int read() throws IOException {
    return SingleByte.read(this);
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    while (true) {
      try {
        int n = in.read(b, off, len);
        if (n > 0) {
          position += n;
        } else if (n < 0 && length >= 0 && position < length) {
          // A connection closed early, without the client library noticing (no framing error).
          throw new java.io.EOFException("the body ended after " + position + " of " + length + " bytes");
        }
        return n;
      } catch (IOException e) {
        if (closed) {
          throw e;
        }
        resume(e);
      }
    }
  }

  private void resume(IOException failure) throws IOException {
    closeQuietly(in);
    IOException last = failure;
    while (true) {
      failures++;
      Optional<Duration> wait = retrier.delayAfter(last, failures);
      if (wait.isEmpty()) {
        if (last instanceof UpstreamException u && Retrier.reason(u) == null) {
          throw u; // a final answer (404, 403) to the re-request
        }
        throw new UpstreamException(502, what + " broke off after " + position + " bytes ("
            + last.getMessage() + ")" + (failures > 1 ? " " + failures + " times" : ""), null, last);
      }
      retrier.pause(what, Retrier.reason(last), failures, wait.get(), last);
      try {
        in = reopener.open(position);
        return;
      } catch (IOException e) {
        last = e;
      }
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    in.close();
  }

  private static void closeQuietly(InputStream s) {
    try {
      s.close();
    } catch (IOException | RuntimeException e) {
      // already broken
    }
  }
}
