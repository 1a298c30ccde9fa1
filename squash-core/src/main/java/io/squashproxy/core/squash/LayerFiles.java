package io.squashproxy.core.squash;

import io.squashproxy.core.tar.TarEntry;
import java.util.HashMap;
import java.util.Map;

/**
 * What each path of the layer the one pass is reading holds so far, for a hard link to it later in the layer
 * ({@link OnePassMerge}): the file written there (its name, header and source position), or that an upper layer
 * hides it. In open addressing with the headers shared (files of one layer mostly have the same mode, owner and
 * time): about 40 bytes a file, where a map entry, a record and a header each cost 150 (issue #14). Paths are
 * only added; a removed one keeps its slot, marked absent.
 */
final class LayerFiles {
  /** A file written: its name, its header without the name, the position it came from. */
  record File(PathName name, TarEntry header, long position) {}

  /** What {@link #get} returns for a path whose file an upper layer hides. */
  static final File HIDDEN = new File(null, null, -1);

  private static final long ABSENT = -2;
  private static final long HIDDEN_POSITION = -1;

  private PathName[] keys = new PathName[64];
  private PathName[] names = new PathName[64];
  private TarEntry[] headers = new TarEntry[64];
  private long[] positions = new long[64];
  private int size;
  private final Map<TarEntry, TarEntry> shared = new HashMap<>();

  /** The file at {@code path}, {@link #HIDDEN}, or null when the layer has none there (yet). */
  File get(PathName path) {
    int i = slot(path);
    if (keys[i] == null || positions[i] == ABSENT) {
      return null;
    }
    return positions[i] == HIDDEN_POSITION ? HIDDEN : new File(names[i], headers[i], positions[i]);
  }

  /** {@code path} holds {@code file} now ({@link #HIDDEN} for a file an upper layer hides). */
  void put(PathName path, File file) {
    if (file == HIDDEN) {
      set(path, null, null, HIDDEN_POSITION);
    } else {
      TarEntry nameless = file.header().withName("");
      set(path, file.name(), shared.computeIfAbsent(nameless, h -> h), file.position());
    }
  }

  /** {@code path} holds no file now (a directory replaced it). */
  void remove(PathName path) {
    int i = slot(path);
    if (keys[i] != null) {
      positions[i] = ABSENT;
      names[i] = null;
      headers[i] = null;
    }
  }

  private void set(PathName path, PathName name, TarEntry header, long position) {
    int i = slot(path);
    if (keys[i] == null) {
      keys[i] = path;
      if (++size * 4 > keys.length * 3) {
        grow();
        i = slot(path);
      }
    }
    names[i] = name;
    headers[i] = header;
    positions[i] = position;
  }

  private int slot(PathName path) {
    return PathSet.slot(keys, path);
  }

  private void grow() {
    PathName[] oldKeys = keys;
    PathName[] oldNames = names;
    TarEntry[] oldHeaders = headers;
    long[] oldPositions = positions;
    int n = oldKeys.length * 2;
    keys = new PathName[n];
    names = new PathName[n];
    headers = new TarEntry[n];
    positions = new long[n];
    for (int j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j] != null) {
        int i = slot(oldKeys[j]);
        keys[i] = oldKeys[j];
        names[i] = oldNames[j];
        headers[i] = oldHeaders[j];
        positions[i] = oldPositions[j];
      }
    }
  }
}
