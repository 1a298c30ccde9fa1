package io.squashproxy.core.layout;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.DigestMismatchException;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.layer.Compression;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;

/** Reading blobs and small documents out of an archive, always verified or bounded. */
final class Blobs {
  /** Manifests, indexes, configs and manifest.json are read whole; anything larger is not a real one. */
  static final int MAX_DOCUMENT_BYTES = 16 << 20;

  private Blobs() {}

  /** Where a blob lives in an OCI layout. */
  static String path(Digest digest) {
    return "blobs/" + digest.algorithm() + "/" + digest.hex();
  }

  /** Opens a blob for copying; the stream fails at its end unless digest and size match. */
  static VerifyingInputStream openVerified(ArchiveFiles files, String path, Digest digest, long size)
      throws IOException {
    return new VerifyingInputStream(files.open(path), files.describe(path), digest, size);
  }

  /** Reads a small blob whole and verifies it. */
  static byte[] readVerified(ArchiveFiles files, String path, Digest digest, long size) throws IOException {
    if (size > MAX_DOCUMENT_BYTES) {
      throw new LayoutException(files.describe(path) + ": document of " + size + " bytes is too large");
    }
    try (VerifyingInputStream in = openVerified(files, path, digest, size)) {
      byte[] bytes = in.readAllBytes();
      return bytes;
    } catch (DigestMismatchException e) {
      throw new LayoutException("corrupt blob: " + e.getMessage(), e);
    }
  }

  /** Reads a small file whole, refusing one beyond {@link #MAX_DOCUMENT_BYTES}. */
  static byte[] readDocument(ArchiveFiles files, String path) throws IOException {
    try (InputStream in = files.open(path)) {
      byte[] bytes = in.readNBytes(MAX_DOCUMENT_BYTES + 1);
      if (bytes.length > MAX_DOCUMENT_BYTES) {
        throw new LayoutException(files.describe(path) + ": larger than " + MAX_DOCUMENT_BYTES + " bytes");
      }
      return bytes;
    }
  }

  /** A file's sha256, size and compression (from its magic bytes). */
  record Hashed(Digest digest, long size, Compression.Algorithm compression) {}

  static Hashed hash(InputStream in) throws IOException {
    MessageDigest md = Digest.newMessageDigest(Digest.SHA256);
    byte[] buf = new byte[1 << 16];
    byte[] magic = new byte[4];
    int magicLen = 0;
    long size = 0;
    for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
      md.update(buf, 0, n);
      int take = Math.min(n, magic.length - magicLen);
      System.arraycopy(buf, 0, magic, magicLen, take);
      magicLen += take;
      size += n;
    }
    return new Hashed(Digest.of(Digest.SHA256, md.digest()), size, compressionOf(magic, magicLen));
  }

  /** The sha256 of a stream (the uncompressed tar, for a diff_id). */
  static Digest sha256(InputStream in) throws IOException {
    MessageDigest md = Digest.newMessageDigest(Digest.SHA256);
    byte[] buf = new byte[1 << 16];
    for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
      md.update(buf, 0, n);
    }
    return Digest.of(Digest.SHA256, md.digest());
  }

  private static Compression.Algorithm compressionOf(byte[] m, int len) {
    if (len >= 2 && (m[0] & 0xff) == 0x1f && (m[1] & 0xff) == 0x8b) {
      return Compression.Algorithm.GZIP;
    }
    if (len == 4 && (m[0] & 0xff) == 0x28 && (m[1] & 0xff) == 0xb5 && (m[2] & 0xff) == 0x2f
        && (m[3] & 0xff) == 0xfd) {
      return Compression.Algorithm.ZSTD;
    }
    return Compression.Algorithm.NONE;
  }
}
