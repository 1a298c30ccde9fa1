package io.squashproxy.core.squash;

/**
 * The paths of one squash, each made once ({@link PathName}): a path is found by its parent and its last name
 * in one open-addressing table, and names are interned, so a million-path image costs its distinct names once
 * and about 40 bytes a path besides. Paths are only ever added: a removed file leaves its {@link PathName}
 * (without a node), which is what lets the squash hold a path's object from reading a member to writing it.
 */
final class PathTrie {
  private final PathName root = new PathName(null, "");
  private PathName[] table = new PathName[1024];
  private int size;
  private String[] names = new String[1024];
  private int nameCount;

  PathName root() {
    return root;
  }

  /** Distinct paths made so far, the root not counted. */
  int size() {
    return size;
  }

  /** The path {@code clean} ({@link io.squashproxy.core.layer.EntryPaths#clean}), made if it is new. */
  PathName intern(String clean) {
    return walk(clean, true);
  }

  /** The path {@code clean} if it was made, else null. */
  PathName find(String clean) {
    return walk(clean, false);
  }

  /** The child {@code name} of {@code parent}, made if it is new. */
  PathName child(PathName parent, String name) {
    return child(parent, name, 0, name.length(), true);
  }

  private PathName walk(String clean, boolean create) {
    PathName p = root;
    int start = 0;
    int length = clean.length();
    while (p != null && start < length) {
      int slash = clean.indexOf('/', start);
      int end = slash < 0 ? length : slash;
      p = child(p, clean, start, end, create);
      start = end + 1;
    }
    return p;
  }

  private PathName child(PathName parent, String path, int start, int end, boolean create) {
    int nameHash = hash(path, start, end);
    int mask = table.length - 1;
    int i = slot(parent, nameHash) & mask;
    for (PathName e; (e = table[i]) != null; i = (i + 1) & mask) {
      if (e.parent == parent && e.name.length() == end - start && path.startsWith(e.name, start)) {
        return e;
      }
    }
    if (!create) {
      return null;
    }
    PathName made = new PathName(parent, name(path, start, end, nameHash));
    made.nextSibling = parent.firstChild;
    parent.firstChild = made;
    table[i] = made;
    if (++size * 4 > table.length * 3) {
      grow();
    }
    return made;
  }

  /** {@code path.substring(start, end)}, the one copy this trie holds of it. */
  private String name(String path, int start, int end, int hash) {
    int mask = names.length - 1;
    int i = mix(hash) & mask;
    for (String n; (n = names[i]) != null; i = (i + 1) & mask) {
      if (n.length() == end - start && path.startsWith(n, start)) {
        return n;
      }
    }
    String n = start == 0 && end == path.length() ? path : path.substring(start, end);
    names[i] = n;
    if (++nameCount * 4 > names.length * 3) {
      String[] old = names;
      names = new String[old.length * 2];
      int m = names.length - 1;
      for (String o : old) {
        if (o != null) {
          int j = mix(o.hashCode()) & m;
          while (names[j] != null) {
            j = (j + 1) & m;
          }
          names[j] = o;
        }
      }
    }
    return n;
  }

  private void grow() {
    PathName[] old = table;
    table = new PathName[old.length * 2];
    int mask = table.length - 1;
    for (PathName e : old) {
      if (e != null) {
        int i = slot(e.parent, e.name.hashCode()) & mask;
        while (table[i] != null) {
          i = (i + 1) & mask;
        }
        table[i] = e;
      }
    }
  }

  /** {@code path.substring(start, end).hashCode()} without the substring. */
  private static int hash(String path, int start, int end) {
    int h = 0;
    for (int i = start; i < end; i++) {
      h = 31 * h + path.charAt(i);
    }
    return h;
  }

  private static int slot(PathName parent, int nameHash) {
    return mix(System.identityHashCode(parent) * 0x9E3779B9 + nameHash);
  }

  private static int mix(int h) {
    h *= 0x85EBCA6B;
    return h ^ (h >>> 16);
  }
}
