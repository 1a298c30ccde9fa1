package io.squashproxy.core.testing;

import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds one layer tar in memory, entry by entry, in the order given. Names are written exactly as
 * given (so tests can use {@code ./} prefixes, duplicates and odd names); names are byte strings, one char
 * per byte (ISO-8859-1), as in {@link TarEntry}. The metadata setters ({@link #mode}, {@link #owner},
 * {@link #xattr}, ...) change the entry added last.
 *
 * <pre>
 * byte[] tar = LayerBuilder.layer().dir("etc").file("etc/passwd", "root:x:0:0").mode(0600).tar();
 * </pre>
 */
public final class LayerBuilder {
  public static final long DEFAULT_MTIME = 1_600_000_000L;

  private final List<TarEntry> entries = new ArrayList<>();
  private final List<byte[]> contents = new ArrayList<>();

  public static LayerBuilder layer() {
    return new LayerBuilder();
  }

  /** A directory; a trailing slash is added when missing. */
  public LayerBuilder dir(String name) {
    return add(header(name.endsWith("/") ? name : name + "/", TarType.DIRECTORY, 0755), null);
  }

  public LayerBuilder file(String name, String content) {
    return file(name, content.getBytes(StandardCharsets.UTF_8));
  }

  public LayerBuilder file(String name, byte[] content) {
    return add(header(name, TarType.REGULAR, 0644), content);
  }

  public LayerBuilder symlink(String name, String target) {
    return add(header(name, TarType.SYMLINK, 0777).withLinkName(target), null);
  }

  /**
   * A hard link, carrying the metadata of the entry named {@code target} added last in this layer (as tar
   * writers do: both names stat to the same inode), or default file metadata when the target lies in a
   * lower layer.
   */
  public LayerBuilder hardlink(String name, String target) {
    TarEntry source = null;
    String want = clean(target);
    for (int i = entries.size() - 1; i >= 0; i--) {
      if (clean(entries.get(i).name()).equals(want) && entries.get(i).type() != TarType.DIRECTORY) {
        source = entries.get(i);
        break;
      }
    }
    TarEntry h = source == null ? header(name, TarType.HARDLINK, 0644).withLinkName(target)
        : source.asHardlink(name, target);
    return add(h, null);
  }

  /** A hard link with the given header, for links whose metadata is set by hand. */
  public LayerBuilder hardlinkRaw(String name, String target) {
    return add(header(name, TarType.HARDLINK, 0644).withLinkName(target), null);
  }

  public LayerBuilder fifo(String name) {
    return add(header(name, TarType.FIFO, 0644), null);
  }

  public LayerBuilder charDevice(String name, long major, long minor) {
    return add(device(name, TarType.CHAR_DEVICE, major, minor), null);
  }

  public LayerBuilder blockDevice(String name, long major, long minor) {
    return add(device(name, TarType.BLOCK_DEVICE, major, minor), null);
  }

  /** {@code .wh.BASE} next to {@code path}: deletes {@code path} from lower layers. */
  public LayerBuilder whiteout(String path) {
    int slash = path.lastIndexOf('/');
    String name = slash < 0 ? ".wh." + path : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
    return add(header(name, TarType.REGULAR, 0).withName(name), new byte[0]);
  }

  /** {@code DIR/.wh..wh..opq} ("" or "." for the root). */
  public LayerBuilder opaque(String dir) {
    String d = dir.endsWith("/") ? dir.substring(0, dir.length() - 1) : dir;
    String name = d.isEmpty() || d.equals(".") ? ".wh..wh..opq" : d + "/.wh..wh..opq";
    return add(header(name, TarType.REGULAR, 0), new byte[0]);
  }

  /** Any header; content is required for regular files (its length overrides the header's size). */
  public LayerBuilder entry(TarEntry entry, byte[] content) {
    return add(entry, content);
  }

  public LayerBuilder mode(long mode) {
    return replaceLast(with(last(), b -> b.mode = mode));
  }

  public LayerBuilder owner(long uid, long gid) {
    return replaceLast(with(last(), b -> {
      b.uid = uid;
      b.gid = gid;
    }));
  }

  public LayerBuilder names(String uname, String gname) {
    return replaceLast(with(last(), b -> {
      b.uname = uname;
      b.gname = gname;
    }));
  }

  public LayerBuilder mtime(long mtime) {
    return replaceLast(with(last(), b -> b.mtime = mtime));
  }

  /** Adds a PAX {@code mtime} record such as {@code "1700000000.123456789"} (and sets the header's seconds). */
  public LayerBuilder paxMtime(String value) {
    long whole = Long.parseLong(value.contains(".") ? value.substring(0, value.indexOf('.')) : value);
    return replaceLast(with(last(), b -> {
      b.mtime = whole;
      b.pax.put("mtime", value.getBytes(StandardCharsets.US_ASCII));
    }));
  }

  public LayerBuilder xattr(String key, byte[] value) {
    return pax("SCHILY.xattr." + key, value);
  }

  public LayerBuilder xattr(String key, String value) {
    return xattr(key, value.getBytes(StandardCharsets.UTF_8));
  }

  public LayerBuilder pax(String key, byte[] value) {
    return replaceLast(with(last(), b -> b.pax.put(key, value.clone())));
  }

  public List<TarEntry> entries() {
    return List.copyOf(entries);
  }

  public int size() {
    return entries.size();
  }

  /** The layer as an uncompressed tar. */
  public byte[] tar() {
    return writeTar(entries, contents);
  }

  public static byte[] writeTar(List<TarEntry> entries, List<byte[]> contents) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (TarWriter w = new TarWriter(out)) {
      for (int i = 0; i < entries.size(); i++) {
        TarEntry e = entries.get(i);
        w.putEntry(e);
        byte[] c = contents.get(i);
        if (TarType.hasContent(e.type()) && c != null) {
          w.write(c, 0, c.length);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private LayerBuilder add(TarEntry e, byte[] content) {
    byte[] c = TarType.hasContent(e.type()) ? (content == null ? new byte[0] : content.clone()) : null;
    if (c != null && e.size() != c.length) {
      e = new TarEntry(e.name(), e.type(), e.mode(), e.uid(), e.gid(), c.length, e.mtime(), e.linkName(),
          e.uname(), e.gname(), e.devMajor(), e.devMinor(), e.pax());
    }
    entries.add(e);
    contents.add(c);
    return this;
  }

  private TarEntry last() {
    if (entries.isEmpty()) {
      throw new IllegalStateException("no entry to modify");
    }
    return entries.get(entries.size() - 1);
  }

  private LayerBuilder replaceLast(TarEntry e) {
    entries.set(entries.size() - 1, e);
    return this;
  }

  private static TarEntry header(String name, byte type, long mode) {
    return new TarEntry(name, type, mode, 0, 0, 0, DEFAULT_MTIME, "", "root", "root", 0, 0, Map.of());
  }

  private static TarEntry device(String name, byte type, long major, long minor) {
    return new TarEntry(name, type, 0660, 0, 0, 0, DEFAULT_MTIME, "", "root", "root", major, minor, Map.of());
  }

  private static final class Fields {
    long mode;
    long uid;
    long gid;
    long mtime;
    String uname;
    String gname;
    Map<String, byte[]> pax;
  }

  private static TarEntry with(TarEntry e, java.util.function.Consumer<Fields> change) {
    Fields f = new Fields();
    f.mode = e.mode();
    f.uid = e.uid();
    f.gid = e.gid();
    f.mtime = e.mtime();
    f.uname = e.uname();
    f.gname = e.gname();
    f.pax = new LinkedHashMap<>(e.pax());
    change.accept(f);
    return new TarEntry(e.name(), e.type(), f.mode, f.uid, f.gid, e.size(), f.mtime, e.linkName(), f.uname,
        f.gname, e.devMajor(), e.devMinor(), f.pax);
  }

  private static String clean(String name) {
    return RefFs.clean(name);
  }
}
