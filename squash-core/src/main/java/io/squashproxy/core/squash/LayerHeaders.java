package io.squashproxy.core.squash;

import io.squashproxy.core.tar.TarType;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A layer's members as the one-pass squash keeps them for its bottom-up check ({@link OnePassMerge}): path (the
 * {@link PathName} the squash's other tables hold), type, a hard link's target, and the source each written
 * member was written from. About 9 bytes a member besides the path, where an object per member cost 50
 * (issue #14: the check holds every member of an image).
 */
final class LayerHeaders {
  /** {@link #source} of a member that was not written. */
  static final long NOT_WRITTEN = -1;

  private final int layer;
  private PathName[] names = new PathName[16];
  private byte[] types = new byte[16];
  /** The ordinal each member was written from, -1 if it was not: the one pass writes only from its own layer. */
  private int[] sources = new int[16];
  /** Hard link targets by ordinal: rare, so kept aside. */
  private final Map<Integer, String> links = new HashMap<>();
  private int size;

  LayerHeaders(int layer) {
    this.layer = layer;
  }

  /** Adds the next member (ordinal {@link #size()}), not written yet. */
  void add(PathName path, byte type, String linkName) {
    if (size == names.length) {
      int n = size + (size >> 1);
      names = Arrays.copyOf(names, n);
      types = Arrays.copyOf(types, n);
      sources = Arrays.copyOf(sources, n);
    }
    names[size] = path;
    types[size] = type;
    sources[size] = -1;
    if (type == TarType.HARDLINK) {
      links.put(size, linkName);
    }
    size++;
  }

  int size() {
    return size;
  }

  PathName path(int ordinal) {
    return names[ordinal];
  }

  byte type(int ordinal) {
    return types[ordinal];
  }

  /** A hard link's target as the tar names it; "" for other members. */
  String linkName(int ordinal) {
    return links.getOrDefault(ordinal, "");
  }

  /** Records that member {@code ordinal} was written, from the entry at position {@code source} of this layer. */
  void written(int ordinal, long source) {
    if ((int) (source >>> 32) != layer) {
      throw new IllegalStateException("written from another layer: " + source);
    }
    sources[ordinal] = (int) source;
  }

  /** The position member {@code ordinal} was written from, or {@link #NOT_WRITTEN}. */
  long source(int ordinal) {
    return sources[ordinal] < 0 ? NOT_WRITTEN : FsTree.position(layer, sources[ordinal]);
  }

  /** Drops the room left for more members, once the layer has been read. */
  void trim() {
    names = Arrays.copyOf(names, size);
    types = Arrays.copyOf(types, size);
    sources = Arrays.copyOf(sources, size);
  }
}
