package io.squashproxy.core.tar;

import io.squashproxy.core.io.SingleByte;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Streams a tar archive (ustar, PAX and GNU long names) one member at a time. The PAX and GNU extension
 * headers are folded into the member they describe; PAX values are kept as raw bytes.
 *
 * <p>Not thread safe. {@link #next()} skips whatever of the previous member's content was not read.
 */
public final class TarReader implements AutoCloseable {
  static final int BLOCK = 512;
  /** Upper bound for an extension header body (PAX or GNU long name) held in memory. */
  static final int MAX_EXTENSION_HEADER = 1 << 20;

  private final InputStream in;
  private final byte[] block = new byte[BLOCK];
  private final Map<String, byte[]> globalPax = new LinkedHashMap<>();
  private String lastUname = "";
  private String lastGname = "";
  private long remaining;
  private long padding;
  private long position;
  private boolean ended;
  private TarEntry current;

  public TarReader(InputStream in) {
    this.in = in;
  }

  /** The next member, or null at the end of the archive. */
  public TarEntry next() throws IOException {
    skipRest();
    if (ended) {
      return null;
    }
    Map<String, byte[]> pax = null;
    String longName = null;
    String longLink = null;
    while (true) {
      if (!readBlock(true)) {
        return end();
      }
      if (isZero(block)) {
        // End of archive: two zero blocks, though a lone one followed by EOF is common enough to accept.
        return end();
      }
      verifyChecksum();
      byte type = block[156];
      long size = parseNumber(124, 12, "size");
      if (size < 0) {
        throw new TarFormatException("negative size in tar header at offset " + (position - BLOCK));
      }
      switch (type) {
        case TarType.PAX_EXTENDED -> {
          pax = parsePax(readExtension(size, "PAX header"));
          continue;
        }
        case TarType.PAX_GLOBAL -> {
          globalPax.putAll(parsePax(readExtension(size, "PAX global header")));
          continue;
        }
        case TarType.GNU_LONG_NAME -> {
          longName = cString(readExtension(size, "GNU long name"));
          continue;
        }
        case TarType.GNU_LONG_LINK -> {
          longLink = cString(readExtension(size, "GNU long link name"));
          continue;
        }
        default -> {
          // a member header
        }
      }
      current = member(type, size, pax, longName, longLink);
      // Like Go's archive/tar (which wrote most layers in the wild), header-only types carry no content
      // even when their size field is not zero.
      remaining = TarType.hasContent(type) ? current.size() : 0;
      padding = pad(remaining);
      return current;
    }
  }

  /** Bytes of the archive consumed so far. */
  public long position() {
    return position;
  }

  /** The current member's content; reading past its size returns end of stream. */
  public InputStream content() {
    return new InputStream() {
      @Override
      public int read() throws IOException {
        return SingleByte.read(this);
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (remaining <= 0) {
          return -1;
        }
        int n = in.read(b, off, (int) Math.min(len, remaining));
        if (n < 0) {
          throw new EOFException("tar archive truncated inside " + current.name());
        }
        remaining -= n;
        position += n;
        return n;
      }
    };
  }

  @Override
  public void close() throws IOException {
    in.close();
  }

  private TarEntry end() {
    ended = true;
    current = null;
    return null;
  }

  private TarEntry member(byte type, long size, Map<String, byte[]> entryPax, String longName, String longLink)
      throws IOException {
    Map<String, byte[]> pax = new LinkedHashMap<>(globalPax);
    if (entryPax != null) {
      pax.putAll(entryPax);
    }
    boolean ustar = block[257] == 'u' && block[258] == 's' && block[259] == 't' && block[260] == 'a'
        && block[261] == 'r' && block[262] == 0;
    String name = field(0, 100);
    if (ustar) {
      String prefix = field(345, 155);
      if (!prefix.isEmpty()) {
        name = prefix + "/" + name;
      }
    }
    if (longName != null) {
      name = longName;
    }
    String linkName = longLink != null ? longLink : field(157, 100);
    long mode = parseNumber(100, 8, "mode");
    long uid = parseNumber(108, 8, "uid");
    long gid = parseNumber(116, 8, "gid");
    long mtime = parseNumber(136, 12, "mtime");
    // Owner names repeat from entry to entry: one copy each, as the squash keeps headers of many entries.
    String uname = field(265, 32);
    uname = uname.equals(lastUname) ? lastUname : (lastUname = uname);
    String gname = field(297, 32);
    gname = gname.equals(lastGname) ? lastGname : (lastGname = gname);
    long devMajor = 0;
    long devMinor = 0;
    if (type == TarType.CHAR_DEVICE || type == TarType.BLOCK_DEVICE) {
      devMajor = parseNumber(329, 8, "devmajor");
      devMinor = parseNumber(337, 8, "devminor");
    }
    // Base-256 fields can be negative; only mtime may be (before 1970). A negative uid would be written
    // back as a PAX record that no reader accepts, so refuse it here, where the entry is named.
    if (mode < 0 || uid < 0 || gid < 0 || devMajor < 0 || devMinor < 0) {
      throw new TarFormatException("negative mode, uid, gid or device number in the tar header of " + name
          + " at offset " + (position - BLOCK));
    }
    for (Map.Entry<String, byte[]> e : pax.entrySet()) {
      byte[] v = e.getValue();
      switch (e.getKey()) {
        case "path" -> name = PaxRecords.latin1(v);
        case "linkpath" -> linkName = PaxRecords.latin1(v);
        case "size" -> size = paxNumber(e.getKey(), v);
        case "uid" -> uid = paxNumber(e.getKey(), v);
        case "gid" -> gid = paxNumber(e.getKey(), v);
        case "uname" -> uname = PaxRecords.latin1(v);
        case "gname" -> gname = PaxRecords.latin1(v);
        case "mtime" -> mtime = paxSeconds(v);
        default -> {
          if (e.getKey().startsWith("GNU.sparse.")) {
            throw new UnsupportedTarException("sparse file " + name + " is not supported");
          }
        }
      }
    }
    if (type == TarType.GNU_SPARSE) {
      throw new UnsupportedTarException("sparse file " + name + " is not supported");
    }
    if (!isKnownMemberType(type)) {
      throw new UnsupportedTarException("unsupported tar entry type '" + (char) type + "' for " + name);
    }
    if (name.isEmpty()) {
      throw new TarFormatException("tar entry with an empty name at offset " + (position - BLOCK));
    }
    return new TarEntry(name, type, mode, uid, gid, size, mtime, linkName, uname, gname, devMajor, devMinor,
        pax);
  }

  private static boolean isKnownMemberType(byte type) {
    return switch (type) {
      case TarType.REGULAR, TarType.REGULAR_OLD, TarType.CONTIGUOUS, TarType.HARDLINK, TarType.SYMLINK,
          TarType.CHAR_DEVICE, TarType.BLOCK_DEVICE, TarType.DIRECTORY, TarType.FIFO -> true;
      default -> false;
    };
  }

  private Map<String, byte[]> parsePax(byte[] body) throws TarFormatException {
    return PaxRecords.parse(body);
  }

  private byte[] readExtension(long size, String what) throws IOException {
    if (size > MAX_EXTENSION_HEADER) {
      throw new TarFormatException(what + " of " + size + " bytes exceeds the limit of " + MAX_EXTENSION_HEADER);
    }
    byte[] body = in.readNBytes((int) size);
    if (body.length != size) {
      throw new EOFException("tar archive truncated inside a " + what);
    }
    position += size;
    long pad = pad(size);
    skipFully(pad);
    return body;
  }

  private void skipRest() throws IOException {
    if (remaining > 0 || padding > 0) {
      skipFully(remaining + padding);
      remaining = 0;
      padding = 0;
    }
  }

  private void skipFully(long n) throws IOException {
    long left = n;
    while (left > 0) {
      long skipped = in.skip(left);
      if (skipped <= 0) {
        if (in.read() < 0) {
          throw new EOFException("tar archive truncated" + (current == null ? "" : " inside " + current.name()));
        }
        skipped = 1;
      }
      left -= skipped;
    }
    position += n;
  }

  private boolean readBlock(boolean eofAllowed) throws IOException {
    int n = in.readNBytes(block, 0, BLOCK);
    if (n == 0 && eofAllowed) {
      return false;
    }
    if (n != BLOCK) {
      throw new EOFException("tar archive truncated in a header block at offset " + position);
    }
    position += BLOCK;
    return true;
  }

  private void verifyChecksum() throws TarFormatException {
    long stored = parseNumber(148, 8, "checksum");
    long unsigned = 0;
    long signed = 0;
    for (int i = 0; i < BLOCK; i++) {
      byte b = (i >= 148 && i < 156) ? (byte) ' ' : block[i];
      unsigned += b & 0xff;
      signed += b;
    }
    if (stored != unsigned && stored != signed) {
      throw new TarFormatException("invalid tar header checksum at offset " + (position - BLOCK)
          + " (not a tar archive, or corrupt)");
    }
  }

  private String field(int off, int len) {
    int end = off;
    while (end < off + len && block[end] != 0) {
      end++;
    }
    return end == off ? "" : new String(block, off, end - off, StandardCharsets.ISO_8859_1);
  }

  private long parseNumber(int off, int len, String what) throws TarFormatException {
    if ((block[off] & 0x80) != 0) {
      // GNU base-256: big-endian two's complement in the remaining bits.
      long value = (block[off] & 0x40) != 0 ? -1L : 0L;
      value = (value << 6) | (block[off] & 0x3f);
      for (int i = off + 1; i < off + len; i++) {
        if (i - off > 8 && ((value >> 55) != 0 && (value >> 55) != -1)) {
          throw new TarFormatException("numeric field " + what + " overflows");
        }
        value = (value << 8) | (block[i] & 0xff);
      }
      return value;
    }
    long value = 0;
    int i = off;
    int end = off + len;
    while (i < end && (block[i] == ' ' || block[i] == 0)) {
      i++;
    }
    for (; i < end; i++) {
      byte b = block[i];
      if (b == 0 || b == ' ') {
        break;
      }
      if (b < '0' || b > '7') {
        throw new TarFormatException("invalid octal " + what + " field in tar header at offset "
            + (position - BLOCK));
      }
      value = (value << 3) | (b - '0');
    }
    return value;
  }

  private static long paxNumber(String key, byte[] v) throws TarFormatException {
    String s = new String(v, StandardCharsets.US_ASCII);
    try {
      long n = Long.parseLong(s);
      if (n < 0) {
        throw new TarFormatException("negative PAX " + key + ": " + s);
      }
      return n;
    } catch (NumberFormatException e) {
      throw new TarFormatException("invalid PAX " + key + ": " + s);
    }
  }

  private static long paxSeconds(byte[] v) throws TarFormatException {
    String s = new String(v, StandardCharsets.US_ASCII);
    int dot = s.indexOf('.');
    String whole = dot < 0 ? s : s.substring(0, dot);
    try {
      return Long.parseLong(whole);
    } catch (NumberFormatException e) {
      throw new TarFormatException("invalid PAX mtime: " + s);
    }
  }

  private static String cString(byte[] body) {
    int end = 0;
    while (end < body.length && body[end] != 0) {
      end++;
    }
    return new String(body, 0, end, StandardCharsets.ISO_8859_1);
  }

  private static boolean isZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  static long pad(long size) {
    long rem = size % BLOCK;
    return rem == 0 ? 0 : BLOCK - rem;
  }
}
