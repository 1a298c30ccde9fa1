package io.squashproxy.core.layer;

import java.io.IOException;
import java.io.OutputStream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * A gzip stream with a fixed header (no name, mtime 0, OS "unknown") and a chosen level, so the same input
 * always gives the same bytes. {@link java.util.zip.GZIPOutputStream} has no level setting.
 */
final class ReproducibleGzipOutputStream extends DeflaterOutputStream {
  private static final byte[] HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};
  private final CRC32 crc = new CRC32();
  private boolean closed;

  ReproducibleGzipOutputStream(OutputStream out, int level) throws IOException {
    super(out, new Deflater(level, true), 65536);
    out.write(HEADER);
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    super.write(b, off, len);
    crc.update(b, off, len);
  }

  @Override
  public void finish() throws IOException {
    if (def.finished()) {
      return;
    }
    super.finish();
    long c = crc.getValue();
    long n = def.getBytesRead();
    byte[] trailer = new byte[8];
    for (int i = 0; i < 4; i++) {
      trailer[i] = (byte) (c >>> (8 * i));
      trailer[4 + i] = (byte) (n >>> (8 * i));
    }
    out.write(trailer);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      finish();
    } finally {
      def.end();
      out.close();
    }
  }
}
