package io.squashproxy.core.digest;

import io.squashproxy.core.io.SingleByte;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;

/**
 * Hashes and counts what passes through, and at end of stream checks the digest and, when known, the size.
 * A mismatch surfaces as {@link DigestMismatchException} from the read that hit the end, so a consumer that
 * reads to the end can never mistake corrupt content for good content.
 */
public final class VerifyingInputStream extends FilterInputStream {
  private final String what;
  private final Digest expected;
  private final long expectedSize;
  private final MessageDigest md;
  private long count;
  private boolean verified;

  /**
   * @param what names the blob in error messages, for example "layer sha256:..."
   * @param expectedSize the announced size, or -1 when unknown
   */
  public VerifyingInputStream(InputStream in, String what, Digest expected, long expectedSize) {
    super(in);
    this.what = what;
    this.expected = expected;
    this.expectedSize = expectedSize;
    this.md = expected.newMessageDigest();
  }

  @Override
  public int read() throws IOException {
    return SingleByte.read(this);
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n < 0) {
      verify();
      return -1;
    }
    md.update(b, off, n);
    count += n;
    if (expectedSize >= 0 && count > expectedSize) {
      throw new DigestMismatchException(what + " is longer than its declared size " + expectedSize,
          expected, "at least " + count + " bytes");
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    byte[] buf = new byte[(int) Math.min(n, 8192)];
    int r = read(buf, 0, buf.length);
    return Math.max(r, 0);
  }

  @Override
  public boolean markSupported() {
    return false;
  }

  /** Reads what is left (so the digest covers the whole blob) and verifies it. */
  public void drainAndVerify() throws IOException {
    byte[] buf = new byte[65536];
    while (read(buf, 0, buf.length) >= 0) {
      // draining
    }
  }

  public long count() {
    return count;
  }

  public boolean verified() {
    return verified;
  }

  private void verify() throws IOException {
    if (verified) {
      return;
    }
    if (expectedSize >= 0 && count != expectedSize) {
      throw new DigestMismatchException(what + " has " + count + " bytes, declared size is " + expectedSize,
          expected, count + " bytes");
    }
    Digest actual = Digest.of(expected.algorithm(), md.digest());
    if (!actual.equals(expected)) {
      throw new DigestMismatchException(what, expected, actual.toString());
    }
    verified = true;
  }
}
