package io.squashproxy.core.layer;

/**
 * Whiteout names, as the OCI image spec (layer.md, "Whiteouts") defines them.
 *
 * <p>"A whiteout file is an empty file with a special filename that signifies a path should be deleted.
 * A whiteout filename consists of the prefix {@code .wh.} plus the basename of the path to be deleted."
 * "Opaque whiteouts: ... a file with the name {@code .wh..wh..opq} indicating that all siblings are hidden
 * in the lower layer." Both apply to lower layers only.
 */
public final class Whiteouts {
  /** Prefix of a whiteout file: {@code .wh.NAME} deletes NAME from lower layers. */
  public static final String PREFIX = ".wh.";
  /** Prefix reserved for AUFS metadata ({@code .wh..wh.plnk}, {@code .wh..wh.aufs}); never a path. */
  public static final String META_PREFIX = ".wh..wh.";
  /** The opaque marker: hides every lower-layer child of the directory it sits in. */
  public static final String OPAQUE = ".wh..wh..opq";

  private Whiteouts() {}

  public static boolean isOpaque(String baseName) {
    return OPAQUE.equals(baseName);
  }

  /** AUFS bookkeeping entries other than the opaque marker; they carry no file system meaning. */
  public static boolean isMeta(String baseName) {
    return baseName.startsWith(META_PREFIX) && !isOpaque(baseName);
  }

  public static boolean isWhiteout(String baseName) {
    return baseName.startsWith(PREFIX) && !baseName.startsWith(META_PREFIX);
  }

  /** The name a whiteout deletes: {@code .wh.foo} -> {@code foo}. */
  public static String deletedName(String baseName) {
    return baseName.substring(PREFIX.length());
  }

  /** The whiteout entry name that deletes {@code path} (a cleaned relative path). */
  public static String whiteoutFor(String path) {
    int slash = path.lastIndexOf('/');
    return slash < 0 ? PREFIX + path : path.substring(0, slash + 1) + PREFIX + path.substring(slash + 1);
  }

  /** The opaque marker entry name for directory {@code dir} ("" is the root). */
  public static String opaqueFor(String dir) {
    return dir.isEmpty() ? OPAQUE : dir + "/" + OPAQUE;
  }
}
