package io.squashproxy.core.estargz;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.tar.PaxRecords;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.security.MessageDigest;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Builds the TOC from the tar as it is written, the way Go's {@code estargz.Writer.appendTar} fills its entries
 * (user and group names only when they change for an id, modtime in RFC 3339 UTC, chunk entries for large files),
 * and asks the {@link EstargzWriter.Cutter} for a new gzip member where each chunk's content starts.
 */
final class Toc implements TarWriter.Observer {
  private static final String EMPTY_DIGEST = Digest.sha256(new byte[0]).toString();

  final List<TocJson.Entry> entries = new ArrayList<>();
  /**
   * Writing the writer's own entries (landmarks, the TOC), which are kept although their names are taken; the
   * landmarks go in the TOC too (the snapshotter looks the prefetch landmark up there), the TOC does not.
   */
  boolean metadata;
  /** Set for the TOC entry: learns where its member starts. */
  LongConsumer tocMember;

  private final int chunkSize;
  private final EstargzWriter.Cutter cutter;
  private final Map<Long, String> lastUser = new HashMap<>();
  private final Map<Long, String> lastGroup = new HashMap<>();

  // The regular file whose content is being written, if any.
  private TocJson.Entry file;
  private MessageDigest fileDigest;
  private List<TocJson.Entry> chunks;
  private int chunk;
  private long chunkFilled;
  private MessageDigest chunkDigest;

  Toc(int chunkSize, EstargzWriter.Cutter cutter) {
    this.chunkSize = chunkSize;
    this.cutter = cutter;
  }

  @Override
  public boolean entry(TarEntry e, long headerOffset, long contentOffset) {
    if (file != null) {
      throw new IllegalStateException("entry " + e.name() + " starts inside the content of " + file.name);
    }
    if (!metadata && (isMetadataName(e.name()) || (e.isHardlink() && isMetadataName(e.linkName())))) {
      return false; // an eStargz source's own TOC or landmark (or a link to one): this layer gets new ones
    }
    if (metadata && tocMember != null) {
      cutter.cutAt(headerOffset, tocMember); // Go writes the TOC in a gzip member of its own
      return true;
    }
    TocJson.Entry t = new TocJson.Entry();
    t.name = e.name();
    t.mode = e.mode();
    t.uid = e.uid();
    t.gid = e.gid();
    t.userName = ifChanged(lastUser, e.uid(), e.uname());
    t.groupName = ifChanged(lastGroup, e.gid(), e.gname());
    t.modtime = modtime(e);
    t.xattrs = e.xattrs();
    byte type = e.type();
    if (TarType.isRegular(type)) {
      t.type = "reg";
      t.size = e.size();
    } else {
      switch (type) {
        case TarType.HARDLINK -> {
          t.type = "hardlink";
          t.linkName = e.linkName();
        }
        case TarType.SYMLINK -> {
          t.type = "symlink";
          t.linkName = e.linkName();
        }
        case TarType.DIRECTORY -> t.type = "dir";
        case TarType.CHAR_DEVICE, TarType.BLOCK_DEVICE -> {
          t.type = type == TarType.CHAR_DEVICE ? "char" : "block";
          t.devMajor = e.devMajor();
          t.devMinor = e.devMinor();
        }
        case TarType.FIFO -> t.type = "fifo";
        default -> throw new IllegalArgumentException("eStargz cannot hold " + e + " (tar type '"
            + (char) type + "')");
      }
    }
    if (!t.type.equals("reg")) {
      entries.add(t);
      return true;
    }
    if (t.size == 0) {
      t.digest = EMPTY_DIGEST;
      entries.add(t);
      return true;
    }
    // One TOC entry per chunk: the file's own, then "chunk" entries; each chunk starts a gzip member.
    chunks = new ArrayList<>();
    for (long at = 0; at < t.size; at += chunkSize) {
      TocJson.Entry c = at == 0 ? t : new TocJson.Entry();
      if (at > 0) {
        c.name = e.name();
        c.type = "chunk";
      }
      c.chunkOffset = at;
      if (t.size - at >= chunkSize) {
        c.chunkSize = chunkSize; // Go leaves the last, short chunk's size out (it is implied)
      }
      cutter.cutAt(contentOffset + at, off -> c.offset = off);
      entries.add(c);
      chunks.add(c);
    }
    file = t;
    fileDigest = Digest.newMessageDigest(Digest.SHA256);
    chunk = 0;
    chunkFilled = 0;
    chunkDigest = Digest.newMessageDigest(Digest.SHA256);
    return true;
  }

  @Override
  public void content(byte[] b, int off, int len) {
    if (file == null) {
      return; // the landmarks' and the TOC's own content
    }
    fileDigest.update(b, off, len);
    while (len > 0) {
      TocJson.Entry c = chunks.get(chunk);
      long length = Math.min(chunkSize, file.size - c.chunkOffset);
      int n = (int) Math.min(len, length - chunkFilled);
      chunkDigest.update(b, off, n);
      chunkFilled += n;
      off += n;
      len -= n;
      if (chunkFilled == length) {
        c.chunkDigest = hex(chunkDigest.digest());
        chunk++;
        chunkFilled = 0;
        if (chunk == chunks.size()) {
          file.digest = hex(fileDigest.digest());
          file = null;
          chunks = null;
          return;
        }
      }
    }
  }

  private static String hex(byte[] sha256) {
    return Digest.of(Digest.SHA256, sha256).toString();
  }

  /** Whether a member of the input has a name the eStargz metadata entries take (at the root). */
  static boolean isMetadataName(String name) {
    String n = name;
    while (n.startsWith("./")) {
      n = n.substring(2);
    }
    while (n.startsWith("/")) {
      n = n.substring(1);
    }
    return n.equals(EstargzWriter.TOC_NAME) || n.equals(EstargzWriter.PREFETCH_LANDMARK)
        || n.equals(EstargzWriter.NO_PREFETCH_LANDMARK);
  }

  /** Go's nameIfChanged: the name, unless it is already the last one given for this id. */
  private static String ifChanged(Map<Long, String> last, long id, String name) {
    if (name.isEmpty()) {
      return null;
    }
    if (name.equals(last.get(id))) {
      return null;
    }
    last.put(id, name);
    return name;
  }

  /**
   * Go's formatModtime over the time its tar reader gives (the PAX mtime with its fraction, rounded to the
   * second, halves up): empty for the epoch, else RFC 3339 in UTC.
   */
  static String modtime(TarEntry e) {
    long seconds = e.mtime();
    byte[] pax = e.pax().get("mtime");
    if (pax != null) {
      try {
        seconds = new BigDecimal(PaxRecords.latin1(pax)).setScale(0, RoundingMode.HALF_UP).longValueExact();
      } catch (ArithmeticException | NumberFormatException ignored) {
        // the reader accepted the header: keep its whole seconds
      }
    }
    if (seconds == 0) {
      return null;
    }
    LocalDateTime t = LocalDateTime.ofEpochSecond(seconds, 0, ZoneOffset.UTC);
    return String.format("%04d-%02d-%02dT%02d:%02d:%02dZ", t.getYear(), t.getMonthValue(), t.getDayOfMonth(),
        t.getHour(), t.getMinute(), t.getSecond());
  }
}
