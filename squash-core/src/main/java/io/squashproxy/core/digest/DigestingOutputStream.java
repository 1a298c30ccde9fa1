package io.squashproxy.core.digest;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.security.MessageDigest;

/** Hashes and counts what is written through it. */
public final class DigestingOutputStream extends FilterOutputStream {
  private final MessageDigest md;
  private final String algorithm;
  private long count;

  public DigestingOutputStream(OutputStream out) {
    this(out, Digest.SHA256);
  }

  public DigestingOutputStream(OutputStream out, String algorithm) {
    super(out);
    this.algorithm = algorithm;
    this.md = Digest.newMessageDigest(algorithm);
  }

  @Override
  public void write(int b) throws IOException {
    out.write(b);
    md.update((byte) b);
    count++;
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    out.write(b, off, len);
    md.update(b, off, len);
    count += len;
  }

  public long count() {
    return count;
  }

  /** The digest of everything written so far; call once, after the last write. */
  public Digest digest() {
    return Digest.of(algorithm, md.digest());
  }
}
