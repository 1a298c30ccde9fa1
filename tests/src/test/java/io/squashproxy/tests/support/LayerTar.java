package io.squashproxy.tests.support;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes hand-made layer tars (ustar, plus PAX records when needed) byte by byte, independently of the
 * product's tar code: opaque markers, whiteouts, hard links, devices, and binary xattrs as raw
 * {@code SCHILY.xattr.*} PAX values.
 */
public final class LayerTar implements Closeable {

  /** Writes an entry's content; {@link #size()} bytes exactly. */
  public interface Content {
    long size();

    void writeTo(OutputStream out) throws IOException;

    static Content of(byte[] bytes) {
      return new Content() {
        @Override
        public long size() {
          return bytes.length;
        }

        @Override
        public void writeTo(OutputStream out) throws IOException {
          out.write(bytes);
        }
      };
    }
  }

  /** One entry to write; defaults: root-owned, 0644 (0755 for directories), mtime {@link #DEFAULT_MTIME}. */
  public static final class Entry {
    final String name;
    final char type;
    String linkName = "";
    int mode;
    int uid;
    int gid;
    long mtime = DEFAULT_MTIME;
    int devMajor;
    int devMinor;
    Content content = Content.of(new byte[0]);
    final Map<String, byte[]> xattrs = new LinkedHashMap<>();

    private Entry(String name, char type, int mode) {
      this.name = name;
      this.type = type;
      this.mode = mode;
    }

    /** The member name as written. */
    public String name() {
      return name;
    }

    public static Entry dir(String name) {
      return new Entry(name.endsWith("/") ? name : name + "/", '5', 0755);
    }

    public static Entry file(String name, String content) {
      return file(name, content.getBytes(StandardCharsets.UTF_8));
    }

    public static Entry file(String name, byte[] content) {
      return file(name, Content.of(content));
    }

    public static Entry file(String name, Content content) {
      Entry e = new Entry(name, '0', 0644);
      e.content = content;
      return e;
    }

    public static Entry symlink(String name, String target) {
      Entry e = new Entry(name, '2', 0777);
      e.linkName = target;
      return e;
    }

    public static Entry hardlink(String name, String target) {
      Entry e = new Entry(name, '1', 0644);
      e.linkName = target;
      return e;
    }

    public static Entry charDevice(String name, int major, int minor) {
      Entry e = new Entry(name, '3', 0644);
      e.devMajor = major;
      e.devMinor = minor;
      return e;
    }

    public static Entry fifo(String name) {
      return new Entry(name, '6', 0644);
    }

    /** The whiteout that deletes {@code path} from lower layers. */
    public static Entry whiteout(String path) {
      int slash = path.lastIndexOf('/');
      String name = slash < 0 ? ".wh." + path : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
      return file(name, new byte[0]);
    }

    /** The opaque marker that hides everything lower layers put in {@code dir}. */
    public static Entry opaque(String dir) {
      String d = dir.endsWith("/") ? dir : dir + "/";
      return file(d + ".wh..wh..opq", new byte[0]);
    }

    public Entry mode(int m) {
      this.mode = m;
      return this;
    }

    public Entry owner(int u, int g) {
      this.uid = u;
      this.gid = g;
      return this;
    }

    public Entry mtime(long epochSeconds) {
      this.mtime = epochSeconds;
      return this;
    }

    public Entry xattr(String key, byte[] value) {
      xattrs.put(key, value);
      return this;
    }

    public Entry xattr(String key, String value) {
      return xattr(key, value.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** 2023-11-14T22:13:20Z. */
  public static final long DEFAULT_MTIME = 1_700_000_000L;

  private final OutputStream out;
  private final boolean dryRun;
  private long written;

  public LayerTar(OutputStream out) {
    this(out, false);
  }

  private LayerTar(OutputStream out, boolean dryRun) {
    this.out = out;
    this.dryRun = dryRun;
  }

  /** The exact size of the tar these entries make (contents are not generated). */
  public static long measure(java.util.List<Entry> entries) {
    LayerTar t = new LayerTar(OutputStream.nullOutputStream(), true);
    for (Entry e : entries) {
      t.add(e);
    }
    t.finish();
    return t.bytesWritten();
  }

  public static LayerTar create(Path file) {
    try {
      return new LayerTar(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public long bytesWritten() {
    return written;
  }

  public LayerTar add(Entry e) {
    try {
      byte[] nameBytes = e.name.getBytes(StandardCharsets.UTF_8);
      byte[] linkBytes = e.linkName.getBytes(StandardCharsets.UTF_8);
      Map<String, byte[]> pax = new LinkedHashMap<>();
      boolean nameFits = nameBytes.length <= 100 && isAscii(nameBytes);
      if (!nameFits) {
        pax.put("path", nameBytes);
      }
      if (linkBytes.length > 100 || !isAscii(linkBytes)) {
        pax.put("linkpath", linkBytes);
      }
      for (Map.Entry<String, byte[]> x : e.xattrs.entrySet()) {
        pax.put("SCHILY.xattr." + x.getKey(), x.getValue());
      }
      long size = e.type == '0' ? e.content.size() : 0;
      if (!pax.isEmpty()) {
        byte[] records = paxRecords(pax);
        String base = e.name.replaceAll("/+$", "");
        base = base.substring(base.lastIndexOf('/') + 1);
        String paxName = ascii("PaxHeaders.0/" + base, 100);
        writeHeader(paxName, 'x', 0644, 0, 0, records.length, e.mtime, "", 0, 0);
        writeRaw(records);
        writeRaw(new byte[(int) (pad(records.length) - records.length)]);
      }
      writeHeader(nameFits ? e.name : ascii(e.name, 100), e.type, e.mode, e.uid, e.gid, size, e.mtime,
          linkBytes.length <= 100 && isAscii(linkBytes) ? e.linkName : ascii(e.linkName, 100), e.devMajor,
          e.devMinor);
      if (size > 0 && dryRun) {
        written += pad(size);
      } else if (size > 0) {
        CountingStream c = new CountingStream(out);
        e.content.writeTo(c);
        if (c.count != size) {
          throw new IllegalStateException(e.name + ": content wrote " + c.count + " bytes, declared " + size);
        }
        written += size;
        writeRaw(new byte[(int) (pad(size) - size)]);
      }
      return this;
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  @Override
  public void close() {
    try {
      writeRaw(new byte[1024]);
      out.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Ends the archive without closing the stream underneath. */
  public void finish() {
    try {
      writeRaw(new byte[1024]);
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void writeHeader(String name, char type, int mode, int uid, int gid, long size, long mtime,
      String link, int major, int minor) throws IOException {
    byte[] h = new byte[512];
    put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
    octal(h, 100, 8, mode & 07777);
    octal(h, 108, 8, uid);
    octal(h, 116, 8, gid);
    octal(h, 124, 12, size);
    octal(h, 136, 12, mtime);
    h[156] = (byte) type;
    put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
    put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
    put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
    put(h, 265, 32, (uid == 0 ? "root" : "").getBytes(StandardCharsets.US_ASCII));
    put(h, 297, 32, (gid == 0 ? "root" : "").getBytes(StandardCharsets.US_ASCII));
    octal(h, 329, 8, major);
    octal(h, 337, 8, minor);
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    byte[] cs = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(cs, 0, h, 148, 8);
    writeRaw(h);
  }

  private void writeRaw(byte[] b) throws IOException {
    out.write(b);
    written += b.length;
  }

  static byte[] paxRecords(Map<String, byte[]> records) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (Map.Entry<String, byte[]> r : records.entrySet()) {
      byte[] key = r.getKey().getBytes(StandardCharsets.UTF_8);
      int rest = 1 + key.length + 1 + r.getValue().length + 1; // " key=value\n"
      int len = rest + 1;
      while (Integer.toString(len).length() + rest != len) {
        len++;
      }
      b.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
      b.write(' ');
      b.writeBytes(key);
      b.write('=');
      b.writeBytes(r.getValue());
      b.write('\n');
    }
    return b.toByteArray();
  }

  private static long pad(long n) {
    return (n + 511) / 512 * 512;
  }

  private static boolean isAscii(byte[] b) {
    for (byte x : b) {
      if (x < 0x20 || x >= 0x7f) {
        return false;
      }
    }
    return true;
  }

  private static String ascii(String s, int max) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (b.length() >= max) {
        break;
      }
      b.append(c >= 0x20 && c < 0x7f ? c : '_');
    }
    return b.toString();
  }

  private static void put(byte[] h, int off, int len, byte[] v) {
    if (v.length > len) {
      throw new IllegalArgumentException("field too long: " + new String(v, StandardCharsets.UTF_8));
    }
    System.arraycopy(v, 0, h, off, v.length);
  }

  private static void octal(byte[] h, int off, int len, long v) {
    String s = Long.toOctalString(v);
    if (s.length() > len - 1) {
      throw new IllegalArgumentException("value " + v + " does not fit " + len + " octal bytes");
    }
    String padded = "0".repeat(len - 1 - s.length()) + s;
    put(h, off, len, (padded + "\0").getBytes(StandardCharsets.US_ASCII));
  }

  private static final class CountingStream extends OutputStream {
    private final OutputStream out;
    long count;

    CountingStream(OutputStream out) {
      this.out = out;
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
    }

    @Override
    public void flush() {
      // the tar stream flushes on finish/close
    }

    @Override
    public void close() {
      // the tar stream owns the underlying stream
    }
  }
}
