package io.squashproxy.core.squash;

import java.util.Arrays;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Values by source position ({@link FsTree#position}, never negative), in two flat arrays with linear probing.
 * A {@code HashMap<Long, V>} costs a node and a boxed key per entry, about 56 bytes; this about 24 at its load,
 * which on a million-path image is the difference between fitting the heap and not.
 */
final class PositionMap<V> {
  private static final long FREE = -1;

  private long[] keys = filled(16);
  private Object[] values = new Object[16];
  private int size;

  /** @return the value that was at {@code position}, or null */
  V put(long position, V value) {
    if (position < 0 || value == null) {
      throw new IllegalArgumentException("position " + position + " or its value is out of range");
    }
    if ((size + 1) * 3L > keys.length * 2L) {
      grow();
    }
    int i = slot(keys, position);
    @SuppressWarnings("unchecked")
    V previous = (V) values[i];
    if (keys[i] == FREE) {
      keys[i] = position;
      size++;
    }
    values[i] = value;
    return previous;
  }

  @SuppressWarnings("unchecked")
  V get(long position) {
    int i = slot(keys, position);
    return keys[i] == FREE ? null : (V) values[i];
  }

  int size() {
    return size;
  }

  @SuppressWarnings("unchecked")
  void forEach(BiConsumer<Long, V> action) {
    for (int i = 0; i < keys.length; i++) {
      if (keys[i] != FREE) {
        action.accept(keys[i], (V) values[i]);
      }
    }
  }

  @SuppressWarnings("unchecked")
  void forEachValue(Consumer<V> action) {
    for (int i = 0; i < keys.length; i++) {
      if (keys[i] != FREE) {
        action.accept((V) values[i]);
      }
    }
  }

  private void grow() {
    long[] oldKeys = keys;
    Object[] oldValues = values;
    keys = filled(oldKeys.length * 2);
    values = new Object[oldKeys.length * 2];
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] != FREE) {
        int j = slot(keys, oldKeys[i]);
        keys[j] = oldKeys[i];
        values[j] = oldValues[i];
      }
    }
  }

  /** The slot holding {@code key}, or the free one where it goes. */
  private static int slot(long[] keys, long key) {
    int mask = keys.length - 1;
    int i = (int) (mix(key) & mask);
    while (keys[i] != FREE && keys[i] != key) {
      i = (i + 1) & mask;
    }
    return i;
  }

  /** Positions are layer << 32 | ordinal: spread both halves over the low bits. */
  private static long mix(long key) {
    long h = key * 0x9E3779B97F4A7C15L;
    return h ^ (h >>> 29);
  }

  private static long[] filled(int n) {
    long[] a = new long[n];
    Arrays.fill(a, FREE);
    return a;
  }
}
