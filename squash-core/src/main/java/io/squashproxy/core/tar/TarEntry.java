package io.squashproxy.core.tar;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One tar member's header, with every PAX record it carried kept as raw bytes (PAX values such as
 * {@code SCHILY.xattr.security.capability} are binary; decoding them as UTF-8 would corrupt them).
 *
 * <p>Names are byte strings: each char is one byte of the archive (ISO-8859-1), so names that are not
 * valid UTF-8 survive a round trip and compare consistently whether they came from a ustar field or a PAX
 * record. {@code pax} holds the records in archive order, including the ones ({@code path}, {@code size},
 * ...) whose meaning is already folded into the fields.
 */
public record TarEntry(
    String name,
    byte type,
    long mode,
    long uid,
    long gid,
    long size,
    long mtime,
    String linkName,
    String uname,
    String gname,
    long devMajor,
    long devMinor,
    Map<String, byte[]> pax) {

  /** PAX keys whose meaning the writer derives from the fields. */
  static final java.util.Set<String> DERIVED_PAX_KEYS = java.util.Set.of("path", "linkpath", "size");

  public TarEntry {
    // Most entries have no PAX records: an empty map costs nothing, a copy of one 88 bytes an entry.
    pax = pax == null || pax.isEmpty() ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(pax));
    linkName = linkName == null ? "" : linkName;
    uname = uname == null ? "" : uname;
    gname = gname == null ? "" : gname;
  }

  public boolean isDirectory() {
    return type == TarType.DIRECTORY;
  }

  public boolean isRegular() {
    return TarType.isRegular(type);
  }

  public boolean isHardlink() {
    return type == TarType.HARDLINK;
  }

  public TarEntry withName(String newName) {
    return new TarEntry(newName, type, mode, uid, gid, size, mtime, linkName, uname, gname, devMajor, devMinor,
        pax);
  }

  public TarEntry withLinkName(String newLinkName) {
    return new TarEntry(name, type, mode, uid, gid, size, mtime, newLinkName, uname, gname, devMajor, devMinor,
        pax);
  }

  /** This header turned into a hard link named {@code newName} pointing at {@code target}. */
  public TarEntry asHardlink(String newName, String target) {
    return new TarEntry(newName, TarType.HARDLINK, mode, uid, gid, 0, mtime, target, uname, gname, devMajor,
        devMinor, pax);
  }

  /** The xattrs this entry carries, from {@code SCHILY.xattr.*} (and libarchive's) PAX records. */
  public Map<String, byte[]> xattrs() {
    Map<String, byte[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> e : pax.entrySet()) {
      if (e.getKey().startsWith(PaxRecords.SCHILY_XATTR)) {
        out.put(e.getKey().substring(PaxRecords.SCHILY_XATTR.length()), e.getValue());
      }
    }
    return out;
  }

  @Override
  public String toString() {
    return TarType.describe(type) + " " + name + (linkName.isEmpty() ? "" : " -> " + linkName);
  }

  /** A plain header with no PAX records; for building layers in code and tests. */
  public static TarEntry of(String name, byte type, long mode, long size) {
    return new TarEntry(name, type, mode, 0, 0, size, 0, "", "", "", 0, 0, Map.of());
  }
}
