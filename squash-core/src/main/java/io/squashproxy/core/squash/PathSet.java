package io.squashproxy.core.squash;

/**
 * A set of {@link PathName}s (by identity) in open addressing: about 8 bytes a path, where a {@link
 * java.util.HashSet} spends 40 (a node each). The one-pass squash keeps several such sets over every path of an
 * image (issue #14). No removal: the squash only ever adds, looks up and clears.
 */
final class PathSet {
  private PathName[] keys;
  private int size;

  PathSet() {
    clear();
  }

  int size() {
    return size;
  }

  void clear() {
    keys = new PathName[16];
    size = 0;
  }

  /** Adds {@code path}; true when it was not there. */
  boolean add(PathName path) {
    int slot = slot(path);
    if (keys[slot] != null) {
      return false;
    }
    keys[slot] = path;
    // Grown at 3/4 full: probes stay short, and the table stays at 1.33 to 2.67 slots a path.
    if (++size * 4 > keys.length * 3) {
      grow();
    }
    return true;
  }

  boolean contains(PathName path) {
    return keys[slot(path)] != null;
  }

  private int slot(PathName path) {
    return slot(keys, path);
  }

  /** Where {@code path} is in the open-addressing table {@code keys}, or the empty slot it would take. */
  static int slot(PathName[] keys, PathName path) {
    int mask = keys.length - 1;
    int h = System.identityHashCode(path) * 0x9E3779B9;
    int i = (h ^ (h >>> 16)) & mask;
    for (PathName k; (k = keys[i]) != null; i = (i + 1) & mask) {
      if (k == path) {
        return i;
      }
    }
    return i;
  }

  private void grow() {
    PathName[] old = keys;
    keys = new PathName[old.length * 2];
    for (PathName k : old) {
      if (k != null) {
        keys[slot(keys, k)] = k;
      }
    }
  }
}
