package io.squashproxy.core.squash;

import io.squashproxy.core.layer.EntryPaths;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * The root file system as layers are applied in order, holding only metadata: which layer and entry
 * provides each path. Applying follows the OCI layer changeset rules: later entries replace earlier ones,
 * whiteouts and opaque markers hide lower layers only, and a changed type hides everything below the old
 * path. Hard links bind to the inode the target path holds when the link is applied, as {@code link(2)}
 * does, so a link keeps its content when its target path is later replaced or deleted.
 */
final class FsTree {

  /**
   * A file-system object with content: a regular file, symlink, device or fifo (anything but a dir), made by the
   * entry at (layer, ordinal). Compared by identity: the names of one inode share the object.
   */
  static class Inode {
    final int layer;
    final int ordinal;

    Inode(int layer, int ordinal) {
      this.layer = layer;
      this.ordinal = ordinal;
    }

    long position() {
      return FsTree.position(layer, ordinal);
    }
  }

  /**
   * What a path holds, from entry (layer, ordinal): a directory ({@link #inode()} null) or a name for an inode.
   * The name an inode's own entry made is that inode (no second object: the tree holds one node for each path of
   * an image, issue #14); a hard link names the inode of its target.
   */
  static final class Node extends Inode {
    /** {@link #link} of a directory: no field of its own, so a node is 24 bytes. */
    private static final Inode DIRECTORY = new Inode(-1, -1);

    private final Inode link;

    /** @param inode null for a directory, or for a non-directory entry that makes its own inode */
    Node(boolean dir, int layer, int ordinal, Inode inode) {
      super(layer, ordinal);
      this.link = dir ? DIRECTORY : inode;
    }

    boolean dir() {
      return link == DIRECTORY;
    }

    int layer() {
      return layer;
    }

    int ordinal() {
      return ordinal;
    }

    Inode inode() {
      return link == DIRECTORY ? null : link != null ? link : this;
    }

    @Override
    public String toString() {
      return (dir() ? "dir" : "node") + "@" + layer + ":" + ordinal;
    }
  }

  /** Told of every non-directory name a layer hides (deletes, replaces, or hides under an opaque marker). */
  interface HideListener {
    void hidden(Node node, int byLayer);
  }

  final TreeMap<String, Node> nodes = new TreeMap<>();
  private HideListener hides;
  /** Directories removed, replaced or made opaque in layers at or above {@link #trackFrom}. */
  final Set<String> resetDirs = new HashSet<>();
  private final int trackFrom;

  FsTree(int trackFrom) {
    this.trackFrom = trackFrom;
  }

  /** Sets who is told of hidden names ({@link WasteAnalysis}); none by default. */
  void onHidden(HideListener listener) {
    this.hides = listener;
  }

  private void hidden(Node node, int byLayer) {
    if (hides != null && !node.dir()) {
      hides.hidden(node, byLayer);
    }
  }

  static long position(int layer, int ordinal) {
    return ((long) layer << 32) | (ordinal & 0xffffffffL);
  }

  /** The layer of a {@link #position}. */
  static int layerOf(long position) {
    return (int) (position >>> 32);
  }

  /** Applies {@code .wh.NAME}: deletes NAME and everything under it from lower layers. */
  void whiteout(String path, int layer) {
    Node n = nodes.get(path);
    if (n != null && n.layer < layer) {
      nodes.remove(path);
      hidden(n, layer);
    }
    removeDescendants(path, layer, layer);
    markReset(path, layer);
  }

  /** Applies {@code DIR/.wh..wh..opq}: hides every lower-layer descendant of DIR. */
  void opaque(String dir, int layer) {
    removeDescendants(dir, layer, layer);
    markReset(dir, layer);
  }

  /**
   * Applies a member. {@code path} is cleaned.
   *
   * @throws IllegalArgumentException naming what is wrong (a hard link to a missing path, a parent that
   *     is not a directory)
   */
  void add(String path, TarEntry entry, int layer, int ordinal) {
    checkParents(path);
    Node existing = nodes.get(path);
    if (entry.isDirectory()) {
      // A dir over a dir replaces metadata and keeps the children; a dir over anything else replaces it.
      Node replaced = nodes.put(path, new Node(true, layer, ordinal, null));
      if (replaced != null) {
        hidden(replaced, layer);
      }
      return;
    }
    Inode inode = null; // the entry makes its own
    if (entry.type() == TarType.HARDLINK) {
      String target;
      try {
        target = EntryPaths.clean(entry.linkName());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("hard link target '" + entry.linkName() + "': " + e.getMessage());
      }
      Node t = nodes.get(target);
      if (t == null) {
        throw new IllegalArgumentException("hard link to '" + entry.linkName() + "', which does not exist");
      }
      if (t.dir()) {
        throw new IllegalArgumentException("hard link to '" + entry.linkName() + "', which is a directory");
      }
      inode = t.inode();
    }
    // A directory replaced by a non-directory goes with everything below it; that includes an implicit
    // directory (no node of its own, only descendants), which extractors created on disk all the same.
    if (existing != null ? existing.dir() : !descendants(nodes, path).isEmpty()) {
      removeDescendants(path, Integer.MAX_VALUE, layer);
      markReset(path, layer);
    }
    Node replaced = nodes.put(path, new Node(false, layer, ordinal, inode));
    if (replaced != null) {
      hidden(replaced, layer);
    }
  }

  private void checkParents(String path) {
    for (String a = EntryPaths.parent(path); a != null && !a.isEmpty(); a = EntryPaths.parent(a)) {
      Node n = nodes.get(a);
      if (n == null) {
        continue; // an implicit parent; extractors create it
      }
      if (n.dir()) {
        return;
      }
      throw new IllegalArgumentException("parent '" + a + "' is not a directory (clients refuse this layer)");
    }
  }

  /** Removes descendants (not {@code dir} itself) that come from layers below {@code below}. */
  private void removeDescendants(String dir, int below, int byLayer) {
    NavigableMap<String, Node> sub = descendants(nodes, dir);
    for (Iterator<Map.Entry<String, Node>> it = sub.entrySet().iterator(); it.hasNext(); ) {
      Node n = it.next().getValue();
      if (n.layer < below) {
        it.remove();
        hidden(n, byLayer);
      }
    }
  }

  private void markReset(String path, int layer) {
    if (layer >= trackFrom) {
      resetDirs.add(path);
    }
  }

  static <V> NavigableMap<String, V> descendants(NavigableMap<String, V> map, String dir) {
    return dir.isEmpty()
        ? map.tailMap("", false)
        : map.subMap(EntryPaths.descendantsFrom(dir), true, EntryPaths.descendantsTo(dir), false);
  }
}
