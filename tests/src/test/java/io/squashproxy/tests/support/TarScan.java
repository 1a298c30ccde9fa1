package io.squashproxy.tests.support;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A small streaming tar reader for checking outputs, independent of the product's tar code: ustar, PAX
 * ({@code x}; {@code g} ignored) with raw byte values, GNU long names ({@code L}/{@code K}), base-256
 * numbers. Unread content is skipped with {@link InputStream#skip}, which seeks on a FileInputStream.
 */
public final class TarScan {

  /** One entry; {@link #pax} holds raw PAX values (xattrs are binary). */
  public record Entry(String name, char type, int mode, long uid, long gid, long size, long mtime,
      String linkName, int devMajor, int devMinor, Map<String, byte[]> pax, long headerOffset,
      long dataOffset) {

    public boolean isDir() {
      return type == '5';
    }

    public boolean isFile() {
      return type == '0' || type == '\0' || type == '7';
    }
  }

  private final InputStream in;
  private long pos;
  private long remaining;
  private long padding;
  private boolean eof;

  public TarScan(InputStream in) {
    this.in = in;
  }

  /** The next entry, or null at the end; skips whatever of the previous entry's content was not read. */
  public Entry next() throws IOException {
    if (eof) {
      return null;
    }
    skipFully(remaining + padding);
    remaining = 0;
    padding = 0;
    Map<String, byte[]> pax = new HashMap<>();
    String longName = null;
    String longLink = null;
    while (true) {
      long headerOffset = pos;
      byte[] h = new byte[512];
      if (!readBlock(h)) {
        eof = true;
        return null;
      }
      if (allZero(h)) {
        eof = true;
        return null;
      }
      char type = (char) h[156];
      long size = number(h, 124, 12);
      if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        byte[] data = readBytes(size);
        skipFully(pad(size) - size);
        if (type == 'x') {
          pax.putAll(parsePax(data));
        } else if (type == 'L') {
          longName = cString(data, 0, data.length);
        } else if (type == 'K') {
          longLink = cString(data, 0, data.length);
        }
        continue;
      }
      String name = cString(h, 0, 100);
      String magic = new String(h, 257, 5, StandardCharsets.US_ASCII);
      if (magic.equals("ustar")) {
        String prefix = cString(h, 345, 155);
        if (!prefix.isEmpty()) {
          name = prefix + "/" + name;
        }
      }
      if (longName != null) {
        name = longName;
      }
      if (pax.containsKey("path")) {
        name = new String(pax.get("path"), StandardCharsets.UTF_8);
      }
      String link = cString(h, 157, 100);
      if (longLink != null) {
        link = longLink;
      }
      if (pax.containsKey("linkpath")) {
        link = new String(pax.get("linkpath"), StandardCharsets.UTF_8);
      }
      if (pax.containsKey("size")) {
        size = Long.parseLong(new String(pax.get("size"), StandardCharsets.US_ASCII));
      }
      long mtime = number(h, 136, 12);
      if (pax.containsKey("mtime")) {
        String m = new String(pax.get("mtime"), StandardCharsets.US_ASCII);
        int dot = m.indexOf('.');
        mtime = Long.parseLong(dot < 0 ? m : m.substring(0, dot));
      }
      long uid = pax.containsKey("uid") ? Long.parseLong(new String(pax.get("uid"), StandardCharsets.US_ASCII))
          : number(h, 108, 8);
      long gid = pax.containsKey("gid") ? Long.parseLong(new String(pax.get("gid"), StandardCharsets.US_ASCII))
          : number(h, 116, 8);
      long dataSize = (type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6')
          ? 0 : size;
      remaining = dataSize;
      padding = pad(dataSize) - dataSize;
      return new Entry(name, type, (int) number(h, 100, 8), uid, gid, dataSize, mtime, link,
          (int) number(h, 329, 8), (int) number(h, 337, 8), pax, headerOffset, pos);
    }
  }

  /** The current entry's content; reading it is optional. */
  public InputStream content() {
    return new InputStream() {
      @Override
      public int read() throws IOException {
        byte[] b = new byte[1];
        int n = read(b, 0, 1);
        return n < 0 ? -1 : b[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (remaining <= 0) {
          return -1;
        }
        int n = in.read(b, off, (int) Math.min(len, remaining));
        if (n < 0) {
          throw new EOFException("tar truncated inside an entry");
        }
        remaining -= n;
        pos += n;
        return n;
      }
    };
  }

  private boolean readBlock(byte[] h) throws IOException {
    int off = 0;
    while (off < h.length) {
      int n = in.read(h, off, h.length - off);
      if (n < 0) {
        if (off == 0) {
          return false;
        }
        throw new EOFException("tar truncated inside a header");
      }
      off += n;
    }
    pos += h.length;
    return true;
  }

  private byte[] readBytes(long size) throws IOException {
    if (size > (1 << 24)) {
      throw new IOException("metadata entry too large: " + size);
    }
    byte[] b = in.readNBytes((int) size);
    if (b.length != size) {
      throw new EOFException("tar truncated");
    }
    pos += size;
    return b;
  }

  private void skipFully(long n) throws IOException {
    long left = n;
    while (left > 0) {
      long s = in.skip(left);
      if (s <= 0) {
        if (in.read() < 0) {
          throw new EOFException("tar truncated while skipping");
        }
        s = 1;
      }
      left -= s;
    }
    pos += n;
  }

  static Map<String, byte[]> parsePax(byte[] data) {
    Map<String, byte[]> m = new HashMap<>();
    int i = 0;
    while (i < data.length) {
      int sp = i;
      while (sp < data.length && data[sp] != ' ') {
        sp++;
      }
      if (sp >= data.length) {
        break;
      }
      int len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
      int eq = sp + 1;
      while (data[eq] != '=') {
        eq++;
      }
      String key = new String(data, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
      byte[] value = Arrays.copyOfRange(data, eq + 1, i + len - 1);
      m.put(key, value);
      i += len;
    }
    return m;
  }

  private static long pad(long n) {
    return (n + 511) / 512 * 512;
  }

  private static boolean allZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  private static String cString(byte[] b, int off, int len) {
    int end = off;
    while (end < off + len && b[end] != 0) {
      end++;
    }
    return new String(b, off, end - off, StandardCharsets.UTF_8);
  }

  private static long number(byte[] h, int off, int len) {
    if ((h[off] & 0x80) != 0) {
      long v = h[off] & 0x7f;
      for (int i = off + 1; i < off + len; i++) {
        v = (v << 8) | (h[i] & 0xff);
      }
      return v;
    }
    String s = cString(h, off, len).trim();
    return s.isEmpty() ? 0 : Long.parseLong(s, 8);
  }
}
