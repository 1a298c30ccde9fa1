package io.squashproxy.core.squash;

import java.util.function.Predicate;

/**
 * One path of an image, canonical in its {@link PathTrie}: compared by identity, and stored as its parent and its
 * last name, so that the names of a directory share their parent's bytes and repeated names ({@code lib},
 * {@code package.json}) are held once (issue #14: a {@code String} for each path was more than half of a squash's
 * heap; this is 32 bytes a path and the table slot). The {@link FsTree} keeps what the path holds in {@link #node},
 * so a path costs no map entry either. The full path is built only where one is written or named in an error.
 */
final class PathName {
  /** Null for the root. */
  final PathName parent;
  /** The last name; "" for the root. */
  final String name;
  PathName firstChild;
  PathName nextSibling;
  /** What the path holds in the trie's {@link FsTree}; null for nothing (or an implicit directory). */
  FsTree.Node node;

  PathName(PathName parent, String name) {
    this.parent = parent;
    this.name = name;
  }

  boolean isRoot() {
    return parent == null;
  }

  /**
   * Whether any path below this one (not this one) passes {@code test}; stops at the first. In pre-order: a
   * directory before what is in it.
   */
  boolean anyBelow(Predicate<PathName> test) {
    PathName p = firstChild;
    while (p != null) {
      if (test.test(p)) {
        return true;
      }
      if (p.firstChild != null) {
        p = p.firstChild;
        continue;
      }
      while (p != this && p.nextSibling == null) {
        p = p.parent;
      }
      p = p == this ? null : p.nextSibling;
    }
    return false;
  }

  /** Whether a path below this one holds a node (this is a directory, maybe an implicit one, with content). */
  boolean hasNodesBelow() {
    return anyBelow(p -> p.node != null);
  }

  int depth() {
    int d = 0;
    for (PathName p = parent; p != null; p = p.parent) {
      d++;
    }
    return d;
  }

  /** The cleaned path ({@link io.squashproxy.core.layer.EntryPaths#clean}): "" for the root. */
  @Override
  public String toString() {
    if (parent == null) {
      return "";
    }
    if (parent.parent == null) {
      return name;
    }
    int length = -1;
    for (PathName p = this; p.parent != null; p = p.parent) {
      length += p.name.length() + 1;
    }
    char[] out = new char[length];
    int end = length;
    for (PathName p = this; p.parent != null; p = p.parent) {
      int start = end - p.name.length();
      p.name.getChars(0, p.name.length(), out, start);
      if (start > 0) {
        out[start - 1] = '/';
      }
      end = start - 1;
    }
    return new String(out);
  }
}
