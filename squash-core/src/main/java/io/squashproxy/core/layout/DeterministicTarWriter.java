package io.squashproxy.core.layout;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.FileTime;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Writes the outer tar of an image archive so the same content always gives the same bytes: every member
 * has mtime 0, uid/gid 0, no user or group names and a fixed mode; the caller fixes the member order.
 * (Commons Compress would otherwise stamp the current time and user.)
 */
final class DeterministicTarWriter implements Closeable {
  private static final FileTime EPOCH = FileTime.fromMillis(0);

  private final TarArchiveOutputStream tar;

  DeterministicTarWriter(OutputStream out) {
    tar = new TarArchiveOutputStream(out, StandardCharsets.UTF_8.name());
    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
    tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
    tar.setAddPaxHeadersForNonAsciiNames(true);
  }

  void directory(String name) throws IOException {
    tar.putArchiveEntry(entry(name.endsWith("/") ? name : name + "/", 040755, 0));
    tar.closeArchiveEntry();
  }

  void file(String name, byte[] content) throws IOException {
    tar.putArchiveEntry(entry(name, 0100644, content.length));
    tar.write(content, 0, content.length);
    tar.closeArchiveEntry();
  }

  /** A member of {@code size} bytes streamed from {@code content}, which must hold at least that many. */
  void file(String name, long size, InputStream content) throws IOException {
    tar.putArchiveEntry(entry(name, 0100644, size));
    byte[] buf = new byte[1 << 16];
    long left = size;
    while (left > 0) {
      int n = content.read(buf, 0, (int) Math.min(buf.length, left));
      if (n < 0) {
        throw new EOFException(name + ": content ended " + left + " bytes early");
      }
      tar.write(buf, 0, n);
      left -= n;
    }
    tar.closeArchiveEntry();
  }

  /** Writes the end-of-archive blocks and closes the stream. */
  @Override
  public void close() throws IOException {
    tar.close();
  }

  private static TarArchiveEntry entry(String name, int mode, long size) {
    TarArchiveEntry e = new TarArchiveEntry(name, true);
    e.setMode(mode);
    e.setSize(size);
    e.setModTime(EPOCH);
    e.setIds(0, 0);
    e.setUserName("");
    e.setGroupName("");
    return e;
  }
}
