package io.squashproxy.core.squash;

import io.squashproxy.core.layer.EntryPaths;
import io.squashproxy.core.tar.TarType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * The root file system as layers are applied in order, holding only metadata: which layer and entry
 * provides each path. Applying follows the OCI layer changeset rules: later entries replace earlier ones,
 * whiteouts and opaque markers hide lower layers only, and a changed type hides everything below the old
 * path. Hard links bind to the inode the target path holds when the link is applied, as {@code link(2)}
 * does, so a link keeps its content when its target path is later replaced or deleted.
 *
 * <p>Paths are {@link PathName}s of the tree's own {@link PathTrie}, and a path's node is kept in its {@link
 * PathName#node}: the tree is the trie (issue #14: a sorted map of path strings was most of a squash's heap).
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

  /** A kept layer's node ({@code node.layer < trackFrom}) that a layer at or above {@link #trackFrom} hid. */
  record Hidden(PathName path, Node node) {}

  final PathTrie paths = new PathTrie();
  private HideListener hides;
  /** Directories removed, replaced or made opaque in layers at or above {@link #trackFrom}. */
  final Set<PathName> resetDirs = Collections.newSetFromMap(new IdentityHashMap<>());
  /**
   * What the squashed layers hid of the file system after the kept ones, in the order hidden: with the tree, all
   * a partial squash needs of the kept layers' file system (any kept node still in the tree shows), where a copy
   * of that file system cost a map entry for every kept path.
   */
  final List<Hidden> hiddenKept = new ArrayList<>();
  private final int trackFrom;
  private int size;

  FsTree(int trackFrom) {
    this.trackFrom = trackFrom;
  }

  /** Sets who is told of hidden names ({@link WasteAnalysis}); none by default. */
  void onHidden(HideListener listener) {
    this.hides = listener;
  }

  /** Paths that hold a node. */
  int size() {
    return size;
  }

  /** The node at {@code path} ({@link EntryPaths#clean cleaned}), or null. */
  Node get(String path) {
    PathName p = paths.find(path);
    return p == null ? null : p.node;
  }

  /** Every path that holds a node, the root first, each directory before what is in it. */
  void forEach(BiConsumer<PathName, Node> action) {
    PathName root = paths.root();
    if (root.node != null) {
      action.accept(root, root.node);
    }
    root.anyBelow(p -> {
      if (p.node != null) {
        action.accept(p, p.node);
      }
      return false;
    });
  }

  /** Sets what {@code path} holds (null: nothing) while applying {@code layer}; returns what it held. */
  private Node set(PathName path, Node node, int layer) {
    Node old = path.node;
    path.node = node;
    size += (node != null ? 1 : 0) - (old != null ? 1 : 0);
    if (old != null) {
      if (old.layer < trackFrom && layer >= trackFrom) {
        hiddenKept.add(new Hidden(path, old));
      }
      if (hides != null && !old.dir()) {
        hides.hidden(old, layer);
      }
    }
    return old;
  }

  static long position(int layer, int ordinal) {
    return ((long) layer << 32) | (ordinal & 0xffffffffL);
  }

  /** The layer of a {@link #position}. */
  static int layerOf(long position) {
    return (int) (position >>> 32);
  }

  /** Applies {@code .wh.NAME}: deletes NAME and everything under it from lower layers. */
  void whiteout(PathName path, int layer) {
    Node n = path.node;
    if (n != null && n.layer < layer) {
      set(path, null, layer);
    }
    removeDescendants(path, layer, layer);
    markReset(path, layer);
  }

  /** Applies {@code DIR/.wh..wh..opq}: hides every lower-layer descendant of DIR. */
  void opaque(PathName dir, int layer) {
    removeDescendants(dir, layer, layer);
    markReset(dir, layer);
  }

  /**
   * Applies a member of {@code type} ({@link TarType}) at {@code path}; {@code linkName} is a hard link's target
   * as the tar names it.
   *
   * @throws IllegalArgumentException naming what is wrong (a hard link to a missing path, a parent that
   *     is not a directory)
   */
  void add(PathName path, byte type, String linkName, int layer, int ordinal) {
    checkParents(path);
    Node existing = path.node;
    if (type == TarType.DIRECTORY) {
      // A dir over a dir replaces metadata and keeps the children; a dir over anything else replaces it.
      set(path, new Node(true, layer, ordinal, null), layer);
      return;
    }
    Inode inode = null; // the entry makes its own
    if (type == TarType.HARDLINK) {
      String target;
      try {
        target = EntryPaths.clean(linkName);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("hard link target '" + linkName + "': " + e.getMessage());
      }
      Node t = get(target);
      if (t == null) {
        throw new IllegalArgumentException("hard link to '" + linkName + "', which does not exist");
      }
      if (t.dir()) {
        throw new IllegalArgumentException("hard link to '" + linkName + "', which is a directory");
      }
      inode = t.inode();
    }
    // A directory replaced by a non-directory goes with everything below it; that includes an implicit
    // directory (no node of its own, only descendants), which extractors created on disk all the same.
    if (existing != null ? existing.dir() : path.hasNodesBelow()) {
      removeDescendants(path, Integer.MAX_VALUE, layer);
      markReset(path, layer);
    }
    set(path, new Node(false, layer, ordinal, inode), layer);
  }

  private void checkParents(PathName path) {
    for (PathName a = path.parent; a != null && !a.isRoot(); a = a.parent) {
      Node n = a.node;
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
  private void removeDescendants(PathName dir, int below, int byLayer) {
    dir.anyBelow(p -> {
      if (p.node != null && p.node.layer < below) {
        set(p, null, byLayer);
      }
      return false;
    });
  }

  private void markReset(PathName path, int layer) {
    if (layer >= trackFrom) {
      resetDirs.add(path);
    }
  }
}
