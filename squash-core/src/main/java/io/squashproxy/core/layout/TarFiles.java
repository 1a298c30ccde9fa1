package io.squashproxy.core.layout;

import io.squashproxy.core.io.SingleByte;
import io.squashproxy.core.layer.Compression;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarFile;

/**
 * The files of an image archive tar, read in place: Commons Compress indexes the headers once and then
 * serves each member by seeking, so nothing is unpacked. A compressed archive ({@code docker save | gzip})
 * is first decompressed into the work directory, since seeking needs a plain tar.
 */
final class TarFiles implements ArchiveFiles {
  private static final int MAX_LINK_HOPS = 16;

  private final Path archive;
  private final Path plain;
  private final TarFile tar;
  private final Map<String, TarArchiveEntry> entries;

  private TarFiles(Path archive, Path plain, TarFile tar, Map<String, TarArchiveEntry> entries) {
    this.archive = archive;
    this.plain = plain;
    this.tar = tar;
    this.entries = entries;
  }

  /** Opens {@code archive}; {@code workDir} receives the decompressed copy of a compressed one. */
  static TarFiles open(Path archive, Path workDir) throws IOException {
    Path plain = archive;
    if (isCompressed(archive)) {
      plain = Files.createTempFile(workDir, "input-", ".tar");
      try (InputStream in = Compression.decompress(Files.newInputStream(archive));
          OutputStream out = Files.newOutputStream(plain)) {
        in.transferTo(out);
      } catch (IOException e) {
        throw new LayoutException(archive + ": cannot decompress: " + message(e), e);
      }
    }
    TarFile tar;
    try {
      tar = new TarFile(plain);
    } catch (IOException | RuntimeException e) {
      throw new LayoutException(archive + ": not a readable tar archive: " + message(e), e);
    }
    Map<String, TarArchiveEntry> entries = new HashMap<>();
    for (TarArchiveEntry e : tar.getEntries()) {
      String name = ArchiveFiles.normalize(e.getName());
      if (name != null && !name.isEmpty()) {
        entries.put(name, e); // a later member replaces an earlier one of the same name, as on extraction
      }
    }
    return new TarFiles(archive, plain, tar, entries);
  }

  /** The normalised names of all members, for format detection. */
  Set<String> names() {
    return Collections.unmodifiableSet(entries.keySet());
  }

  @Override
  public boolean exists(String path) throws IOException {
    return resolve(path) != null;
  }

  @Override
  public InputStream open(String path) throws IOException {
    TarArchiveEntry e = resolve(path);
    if (e == null) {
      throw new LayoutException(describe(path) + ": no such file in the archive");
    }
    if (e.isSparse()) {
      return new BufferedInputStream(tar.getInputStream(e), 1 << 16);
    }
    // Each member gets its own channel: the squasher reads several layers at once, and TarFile's member streams
    // share one file position.
    return new BufferedInputStream(range(plain, e.getDataOffset(), e.getSize()), 1 << 16);
  }

  private static InputStream range(Path file, long offset, long size) throws IOException {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
    try {
      ch.position(offset);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
    return new FilterInputStream(Channels.newInputStream(ch)) {
      private long left = size;

      @Override
      public int read() throws IOException {
        return SingleByte.read(this);
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (left <= 0) {
          return -1;
        }
        int n = in.read(b, off, (int) Math.min(len, left));
        if (n > 0) {
          left -= n;
        }
        return n;
      }

      @Override
      public long skip(long n) throws IOException {
        long k = in.skip(Math.min(n, left));
        left -= Math.max(k, 0);
        return k;
      }

      @Override
      public int available() throws IOException {
        return (int) Math.min(in.available(), left);
      }
    };
  }

  @Override
  public String describe(String path) {
    return archive + ": entry '" + path + "'";
  }

  @Override
  public String describe() {
    return archive.toString();
  }

  /** The regular file {@code path} names, following symbolic and hard links (docker save links layers). */
  private TarArchiveEntry resolve(String path) throws LayoutException {
    String p = ArchiveFiles.normalize(path);
    for (int hop = 0; hop < MAX_LINK_HOPS && p != null; hop++) {
      TarArchiveEntry e = entries.get(p);
      if (e == null) {
        return null;
      }
      if (e.isSymbolicLink()) {
        String target = e.getLinkName();
        int slash = p.lastIndexOf('/');
        p = ArchiveFiles.normalize(target.startsWith("/") || slash < 0 ? target
            : p.substring(0, slash + 1) + target);
      } else if (e.isLink()) {
        p = ArchiveFiles.normalize(e.getLinkName());
      } else {
        return e.isFile() ? e : null;
      }
    }
    if (p == null) {
      return null;
    }
    throw new LayoutException(describe(path) + ": too many levels of links");
  }

  private static boolean isCompressed(Path file) throws IOException {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 8)) {
      byte[] m = in.readNBytes(4);
      boolean gzip = m.length >= 2 && (m[0] & 0xff) == 0x1f && (m[1] & 0xff) == 0x8b;
      boolean zstd = m.length == 4 && (m[0] & 0xff) == 0x28 && (m[1] & 0xff) == 0xb5 && (m[2] & 0xff) == 0x2f
          && (m[3] & 0xff) == 0xfd;
      return gzip || zstd;
    }
  }

  static String message(Throwable e) {
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  @Override
  public void close() throws IOException {
    tar.close();
  }
}
