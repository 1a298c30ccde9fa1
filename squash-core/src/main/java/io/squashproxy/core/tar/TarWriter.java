package io.squashproxy.core.tar;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a POSIX (ustar + PAX) tar stream. Headers are reproducible: the PAX header members have fixed
 * names, modes and times, and a member's PAX records are written in the order they came in. The archive
 * ends with two zero blocks and no record padding, as Go's archive/tar (and so docker and containerd) write.
 */
public final class TarWriter implements AutoCloseable {
  private static final long MAX_OCTAL_7 = 07777777L;
  private static final long MAX_OCTAL_11 = 077777777777L;

  /**
   * Sees every member before its bytes are written and every content byte (eStargz builds its table of contents
   * and cuts its gzip members from it). Offsets are positions in this writer's output.
   */
  public interface Observer {
    /**
     * A member is about to be written: its header (PAX header first, if any) starts at {@code headerOffset},
     * its content at {@code contentOffset}. Returning false drops the member: nothing of it is written, and its
     * content writes are consumed and discarded.
     */
    boolean entry(TarEntry entry, long headerOffset, long contentOffset);

    /** Content bytes of the current (kept) member, in order. */
    void content(byte[] b, int off, int len);
  }

  private static final Observer NO_OBSERVER = null;

  private final OutputStream out;
  private final Observer observer;
  private final byte[] block = new byte[TarReader.BLOCK];
  private long remaining;
  private long padding;
  private boolean finished;
  private boolean dropping;
  private long position;
  private byte[] copyBuffer;

  public TarWriter(OutputStream out) {
    this(out, NO_OBSERVER);
  }

  /** A writer that tells {@code observer} about each member (null for none). */
  public TarWriter(OutputStream out, Observer observer) {
    this.out = out;
    this.observer = observer;
  }

  /** Bytes written so far (a member's pending padding is written when the next member or the end comes). */
  public long position() {
    return position;
  }

  /** Starts a member; for a regular file, exactly {@code entry.size()} content bytes must follow. */
  public void putEntry(TarEntry entry) throws IOException {
    if (remaining != 0) {
      throw new IllegalStateException("previous entry is missing " + remaining + " content bytes");
    }
    writePadding();
    dropping = false;
    boolean content = TarType.hasContent(entry.type());
    long size = content ? entry.size() : 0;
    byte[] name = PaxRecords.latin1(entry.name());
    byte[] link = PaxRecords.latin1(entry.linkName());
    Map<String, byte[]> pax = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> e : entry.pax().entrySet()) {
      if (!TarEntry.DERIVED_PAX_KEYS.contains(e.getKey())) {
        pax.put(e.getKey(), e.getValue());
      }
    }
    if (name.length > 100) {
      pax.put("path", name);
    }
    if (link.length > 100) {
      pax.put("linkpath", link);
    }
    if (size > MAX_OCTAL_11) {
      pax.put("size", Long.toString(size).getBytes(StandardCharsets.US_ASCII));
    }
    putIfTooBig(pax, "uid", entry.uid(), MAX_OCTAL_7);
    putIfTooBig(pax, "gid", entry.gid(), MAX_OCTAL_7);
    if ((entry.mtime() < 0 || entry.mtime() > MAX_OCTAL_11) && !pax.containsKey("mtime")) {
      pax.put("mtime", Long.toString(entry.mtime()).getBytes(StandardCharsets.US_ASCII));
    }
    if (entry.uname().length() > 32) {
      pax.putIfAbsent("uname", PaxRecords.latin1(entry.uname()));
    }
    if (entry.gname().length() > 32) {
      pax.putIfAbsent("gname", PaxRecords.latin1(entry.gname()));
    }
    byte[] body = pax.isEmpty() ? null : PaxRecords.encode(pax);
    if (observer != null) {
      long headers = TarReader.BLOCK + (body == null ? 0 : TarReader.BLOCK + body.length + TarReader.pad(body.length));
      if (!observer.entry(entry, position, position + headers)) {
        dropping = true;
        remaining = size;
        return;
      }
    }
    if (body != null) {
      String paxName = paxHeaderName(entry.name());
      writeHeader(paxName, TarType.PAX_EXTENDED, 0644, 0, 0, body.length, 0, "", "", "", 0, 0);
      emit(body, 0, body.length);
      emit(new byte[(int) TarReader.pad(body.length)]);
    }
    writeHeader(entry.name(), entry.type(), entry.mode(), entry.uid(), entry.gid(), size, entry.mtime(),
        entry.linkName(), entry.uname(), entry.gname(), entry.devMajor(), entry.devMinor());
    remaining = size;
    padding = TarReader.pad(size);
  }

  public void write(byte[] b, int off, int len) throws IOException {
    if (len > remaining) {
      throw new IllegalStateException("content longer than the entry's size");
    }
    remaining -= len;
    if (dropping) {
      return;
    }
    if (observer != null) {
      observer.content(b, off, len);
    }
    emit(b, off, len);
  }

  /** Copies exactly the current entry's remaining content from {@code in}. */
  public void copyContent(java.io.InputStream in) throws IOException {
    if (copyBuffer == null) {
      copyBuffer = new byte[65536]; // one per writer: a rootfs has tens of thousands of small files
    }
    byte[] buf = copyBuffer;
    while (remaining > 0) {
      int n = in.read(buf, 0, (int) Math.min(buf.length, remaining));
      if (n < 0) {
        throw new java.io.EOFException("content ended " + remaining + " bytes early");
      }
      write(buf, 0, n);
    }
  }

  /** Ends the archive (two zero blocks) without closing the underlying stream. */
  public void finish() throws IOException {
    if (finished) {
      return;
    }
    if (remaining != 0) {
      throw new IllegalStateException("last entry is missing " + remaining + " content bytes");
    }
    writePadding();
    emit(new byte[2 * TarReader.BLOCK]);
    out.flush();
    finished = true;
  }

  @Override
  public void close() throws IOException {
    finish();
    out.close();
  }

  private void writePadding() throws IOException {
    if (padding > 0 && !dropping) {
      emit(new byte[(int) padding]);
    }
    padding = 0;
  }

  private void emit(byte[] b) throws IOException {
    emit(b, 0, b.length);
  }

  private void emit(byte[] b, int off, int len) throws IOException {
    out.write(b, off, len);
    position += len;
  }

  private static void putIfTooBig(Map<String, byte[]> pax, String key, long value, long max) {
    if ((value < 0 || value > max) && !pax.containsKey(key)) {
      pax.put(key, Long.toString(value).getBytes(StandardCharsets.US_ASCII));
    }
  }

  private static String paxHeaderName(String name) {
    String trimmed = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
    int slash = trimmed.lastIndexOf('/');
    String base = slash < 0 ? trimmed : trimmed.substring(slash + 1);
    String paxName = "PaxHeaders/" + base;
    byte[] bytes = PaxRecords.latin1(paxName);
    return bytes.length <= 100 ? paxName : PaxRecords.latin1(java.util.Arrays.copyOf(bytes, 100));
  }

  private void writeHeader(String name, byte type, long mode, long uid, long gid, long size, long mtime,
      String link, String uname, String gname, long devMajor, long devMinor) throws IOException {
    java.util.Arrays.fill(block, (byte) 0);
    putString(name, 0, 100);
    putOctal(mode & 07777777L, 100, 8);
    putOctal(uid > MAX_OCTAL_7 || uid < 0 ? 0 : uid, 108, 8);
    putOctal(gid > MAX_OCTAL_7 || gid < 0 ? 0 : gid, 116, 8);
    putOctal(size > MAX_OCTAL_11 ? 0 : size, 124, 12);
    putOctal(mtime < 0 || mtime > MAX_OCTAL_11 ? 0 : mtime, 136, 12);
    block[156] = type;
    putString(link, 157, 100);
    block[257] = 'u';
    block[258] = 's';
    block[259] = 't';
    block[260] = 'a';
    block[261] = 'r';
    block[262] = 0;
    block[263] = '0';
    block[264] = '0';
    putString(uname, 265, 32);
    putString(gname, 297, 32);
    if (type == TarType.CHAR_DEVICE || type == TarType.BLOCK_DEVICE) {
      putOctal(devMajor, 329, 8);
      putOctal(devMinor, 337, 8);
    }
    java.util.Arrays.fill(block, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : block) {
      sum += b & 0xff;
    }
    String chk = String.format("%06o", sum);
    System.arraycopy(chk.getBytes(StandardCharsets.US_ASCII), 0, block, 148, 6);
    block[154] = 0;
    block[155] = ' ';
    emit(block);
  }

  private void putString(String s, int off, int len) {
    byte[] b = PaxRecords.latin1(s);
    System.arraycopy(b, 0, block, off, Math.min(b.length, len));
  }

  private void putOctal(long value, int off, int len) {
    String s = Long.toOctalString(value);
    if (s.length() > len - 1) {
      throw new IllegalArgumentException("value " + value + " does not fit a " + len + "-byte field");
    }
    String padded = "0".repeat(len - 1 - s.length()) + s;
    System.arraycopy(padded.getBytes(StandardCharsets.US_ASCII), 0, block, off, len - 1);
    block[off + len - 1] = 0;
  }
}
