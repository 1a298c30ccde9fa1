package io.squashproxy.core.testing;

import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Reads a tar with Apache Commons Compress (independent of squash-core's {@code TarReader}) into
 * {@link RefFs.Entry} values. Names are ISO-8859-1 byte strings; PAX values that Commons would decode as
 * UTF-8 ({@code path}, {@code linkpath}, {@code uname}, {@code gname}, {@code mtime}, xattrs) are taken raw
 * from {@link RawPax}.
 */
public final class TarListing {
  private TarListing() {}

  /** Bytes of regular-file content in a tar (what the waste figures count). */
  public static long contentBytes(byte[] tar) {
    long sum = 0;
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(tar), "ISO-8859-1")) {
      for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) {
        if (e.isFile() && !e.isLink()) {
          sum += e.getSize();
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return sum;
  }

  public static List<RefFs.Entry> read(byte[] tar) {
    List<Map<String, byte[]>> pax = RawPax.perMember(tar);
    List<RefFs.Entry> out = new ArrayList<>();
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(tar), "ISO-8859-1")) {
      TarArchiveEntry e;
      while ((e = in.getNextEntry()) != null) {
        if (out.size() >= pax.size()) {
          throw new IllegalStateException("raw PAX walk found fewer members than Commons Compress");
        }
        Map<String, byte[]> p = pax.get(out.size());
        byte flag = e.getLinkFlag();
        char kind = kindOf(flag);
        byte[] content = kind == 'f' ? in.readAllBytes() : null;
        String name = p.containsKey("path") ? latin1(p.get("path")) : e.getName();
        String link = p.containsKey("linkpath") ? latin1(p.get("linkpath")) : e.getLinkName();
        String uname = p.containsKey("uname") ? latin1(p.get("uname")) : e.getUserName();
        String gname = p.containsKey("gname") ? latin1(p.get("gname")) : e.getGroupName();
        String mtime = p.containsKey("mtime") ? normalizeTime(latin1(p.get("mtime")))
            : Long.toString(e.getLastModifiedTime().toInstant().getEpochSecond());
        SortedMap<String, String> xattrs = new TreeMap<>();
        for (Map.Entry<String, byte[]> r : p.entrySet()) {
          if (r.getKey().startsWith("SCHILY.xattr.")) {
            xattrs.put(r.getKey().substring("SCHILY.xattr.".length()), show(r.getValue()));
          }
        }
        boolean dev = kind == 'c' || kind == 'b';
        RefFs.Meta meta = new RefFs.Meta(kind == 'h' ? 'f' : kind, e.getMode(), e.getLongUserId(),
            e.getLongGroupId(), uname, gname, mtime, content == null ? "" : describe(content),
            kind == 'l' ? link : "", dev ? e.getDevMajor() : 0, dev ? e.getDevMinor() : 0, xattrs);
        out.add(new RefFs.Entry(name, kind, meta, kind == 'h' ? link : "", p));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Commons Compress cannot read the tar", e);
    }
    if (out.size() != pax.size()) {
      throw new IllegalStateException("raw PAX walk found " + pax.size() + " members, Commons Compress "
          + out.size());
    }
    return out;
  }

  /** The same conversion for a header built in code (used by generators to track state). */
  public static RefFs.Entry fromTarEntry(TarEntry e, byte[] content) {
    char kind = kindOf(e.type());
    SortedMap<String, String> xattrs = new TreeMap<>();
    e.xattrs().forEach((k, v) -> xattrs.put(k, show(v)));
    byte[] mt = e.pax().get("mtime");
    String mtime = mt != null ? normalizeTime(latin1(mt)) : Long.toString(e.mtime());
    boolean dev = kind == 'c' || kind == 'b';
    RefFs.Meta meta = new RefFs.Meta(kind == 'h' ? 'f' : kind, e.mode(), e.uid(), e.gid(), e.uname(),
        e.gname(), mtime, kind == 'f' ? describe(content == null ? new byte[0] : content) : "",
        kind == 'l' ? e.linkName() : "", dev ? e.devMajor() : 0, dev ? e.devMinor() : 0, xattrs);
    return new RefFs.Entry(e.name(), kind, meta, kind == 'h' ? e.linkName() : "", e.pax());
  }

  static char kindOf(byte flag) {
    switch (flag) {
      case '0':
      case 0:
      case '7':
        return 'f';
      case '1':
        return 'h';
      case '2':
        return 'l';
      case '3':
        return 'c';
      case '4':
        return 'b';
      case '5':
        return 'd';
      case '6':
        return 'p';
      default:
        throw new IllegalArgumentException("unexpected tar type flag '" + (char) flag + "'");
    }
  }

  /** Small printable content as text, anything else as its sha256. */
  public static String describe(byte[] content) {
    if (content.length <= 64 && printable(content)) {
      return "'" + new String(content, StandardCharsets.ISO_8859_1) + "'";
    }
    try {
      return content.length + " bytes sha256:" + HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(content)).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An xattr value: printable text in quotes, anything else in hex (so binary values compare byte-exact). */
  public static String show(byte[] v) {
    return printable(v) ? "'" + new String(v, StandardCharsets.ISO_8859_1) + "'"
        : "0x" + HexFormat.of().formatHex(v);
  }

  static String normalizeTime(String s) {
    BigDecimal d = new BigDecimal(s).stripTrailingZeros();
    return d.scale() <= 0 ? d.toBigInteger().toString() : d.toPlainString();
  }

  private static boolean printable(byte[] b) {
    for (byte x : b) {
      if (x < 0x20 || x > 0x7e) {
        return false;
      }
    }
    return true;
  }

  static String latin1(byte[] b) {
    return new String(b, StandardCharsets.ISO_8859_1);
  }
}
