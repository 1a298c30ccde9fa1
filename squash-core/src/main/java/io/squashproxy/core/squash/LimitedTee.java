package io.squashproxy.core.squash;

import io.squashproxy.core.io.SingleByte;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/** Copies what is read into the spool, counting, and refuses to go past the uncompressed budget. */
final class LimitedTee extends FilterInputStream {
  static final OutputStream NO_COPY = OutputStream.nullOutputStream();

  private final OutputStream copy;
  private final long budget;
  private byte[] skipBuffer;
  long count;

  LimitedTee(InputStream in, OutputStream copy, long budget) {
    super(in);
    this.copy = copy;
    this.budget = budget;
  }

  @Override
  public int read() throws IOException {
    return SingleByte.read(this);
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n > 0) {
      count += n;
      if (count > budget) {
        throw new SizeLimitException(overLimit(budget));
      }
      copy.write(b, off, n);
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    if (copy == NO_COPY) {
      // Counting only (reading a spool again): seek over the content.
      long room = budget - count;
      long skipped = in.skip(room < n ? room + 1 : n);
      if (skipped > 0) {
        count += skipped;
        if (count > budget) {
          throw new SizeLimitException(overLimit(budget));
        }
      }
      return skipped;
    }
    // Skipping must still spool and hash every byte.
    if (skipBuffer == null) {
      skipBuffer = new byte[65536];
    }
    int r = read(skipBuffer, 0, (int) Math.min(n, skipBuffer.length));
    return Math.max(r, 0);
  }

  /** The uncompressed budget ({@link SquashOptions#maxUncompressedBytes()}) is spent. */
  static final class SizeLimitException extends IOException {
    private static final long serialVersionUID = 1L;

    SizeLimitException(String message) {
      super(message);
    }
  }

  /** What a squash says when an image unpacks to more than {@code budget}. */
  static String overLimit(long budget) {
    return "image unpacks to more than the limit of " + SquashReport.bytes(budget)
        + " uncompressed (a decompression bomb?)";
  }
}
