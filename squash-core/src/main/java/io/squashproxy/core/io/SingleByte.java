package io.squashproxy.core.io;

import java.io.IOException;
import java.io.InputStream;

/**
 * {@link InputStream#read()} in terms of the stream's own bulk read, for wrappers whose logic (verifying,
 * counting, resuming, bounding) lives in {@code read(byte[], int, int)}: FilterInputStream's single-byte read
 * would go straight to the wrapped stream and bypass it.
 */
public final class SingleByte {
  private SingleByte() {}

  public static int read(InputStream in) throws IOException {
    byte[] one = new byte[1];
    int n = in.read(one, 0, 1);
    return n < 0 ? -1 : one[0] & 0xff;
  }
}
