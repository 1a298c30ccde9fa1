package io.squashproxy.core.squash;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * A set of paths, or a map from path to a {@code long}, in open addressing: about 12 bytes a path as a set and
 * 24 as a map, where a {@link java.util.HashMap} spends 40 to 56 (an entry object and a boxed value each). The
 * squash keeps several such tables of every path of an image (issue #14: a million paths must fit in a modest
 * heap). No removal: the squash only ever adds, looks up and clears.
 */
final class PathTable {
  /** What {@link #get} returns for an absent path. */
  static final long ABSENT = Long.MIN_VALUE;

  private final boolean withValues;
  private String[] keys;
  private long[] values;
  private int size;

  private PathTable(boolean withValues) {
    this.withValues = withValues;
    clear();
  }

  /** A set: {@link #add}, {@link #contains}. */
  static PathTable set() {
    return new PathTable(false);
  }

  /** A map to longs: {@link #put}, {@link #get}. */
  static PathTable map() {
    return new PathTable(true);
  }

  int size() {
    return size;
  }

  void clear() {
    keys = new String[16];
    values = withValues ? new long[16] : null;
    size = 0;
  }

  /** Adds {@code path}; true when it was not there. */
  boolean add(String path) {
    int slot = slot(path);
    if (keys[slot] != null) {
      return false;
    }
    insert(slot, path, 0);
    return true;
  }

  boolean contains(String path) {
    return keys[slot(path)] != null;
  }

  /** Maps {@code path} to {@code value}; returns the previous value or {@link #ABSENT}. */
  long put(String path, long value) {
    int slot = slot(path);
    if (keys[slot] != null) {
      long previous = values[slot];
      values[slot] = value;
      return previous;
    }
    insert(slot, path, value);
    return ABSENT;
  }

  long get(String path) {
    int slot = slot(path);
    return keys[slot] == null ? ABSENT : values[slot];
  }

  void forEach(Consumer<String> action) {
    for (String k : keys) {
      if (k != null) {
        action.accept(k);
      }
    }
  }

  private void insert(int slot, String path, long value) {
    keys[slot] = path;
    if (withValues) {
      values[slot] = value;
    }
    // Grown at 3/4 full: probes stay short, and the tables stay at 1.33 to 2.67 slots a path.
    if (++size * 4 > keys.length * 3) {
      grow();
    }
  }

  private int slot(String path) {
    int mask = keys.length - 1;
    int h = path.hashCode();
    int i = (h ^ (h >>> 16)) & mask;
    for (String k; (k = keys[i]) != null; i = (i + 1) & mask) {
      if (k.equals(path)) {
        return i;
      }
    }
    return i;
  }

  private void grow() {
    String[] oldKeys = keys;
    long[] oldValues = values;
    keys = new String[oldKeys.length * 2];
    values = withValues ? new long[keys.length] : null;
    for (int j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j] != null) {
        int slot = slot(oldKeys[j]);
        keys[slot] = oldKeys[j];
        if (withValues) {
          values[slot] = oldValues[j];
        }
      }
    }
    Arrays.fill(oldKeys, null);
  }
}
