package io.squashproxy.core.testing;

import com.github.luben.zstd.ZstdInputStream;
import com.github.luben.zstd.ZstdOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/** Compression for test blobs, through the JDK and zstd-jni directly (not squash-core's Compression). */
public final class Blobs {
  private Blobs() {}

  public static byte[] gzip(byte[] data) {
    return gzip(data, Deflater.DEFAULT_COMPRESSION);
  }

  public static byte[] gzip(byte[] data, int level) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream z = new GZIPOutputStream(out, 65536) {
      {
        def.setLevel(level);
      }
    }) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  public static byte[] zstd(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream z = new ZstdOutputStream(out, 3)) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  public static boolean isGzip(byte[] b) {
    return b.length >= 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b;
  }

  public static boolean isZstd(byte[] b) {
    return b.length >= 4 && (b[0] & 0xff) == 0x28 && (b[1] & 0xff) == 0xb5 && (b[2] & 0xff) == 0x2f
        && (b[3] & 0xff) == 0xfd;
  }

  /** Decompresses gzip or zstd (by magic); anything else is returned as is. */
  public static byte[] decompress(byte[] blob) {
    try {
      if (isGzip(blob)) {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(blob))) {
          return in.readAllBytes();
        }
      }
      if (isZstd(blob)) {
        try (InputStream in = new ZstdInputStream(new ByteArrayInputStream(blob))) {
          return in.readAllBytes();
        }
      }
      return blob;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
