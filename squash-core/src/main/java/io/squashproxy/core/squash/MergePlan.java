package io.squashproxy.core.squash;

import io.squashproxy.core.layer.Whiteouts;
import io.squashproxy.core.squash.FsTree.Inode;
import io.squashproxy.core.squash.FsTree.Node;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which source entries the squashed layer is made of, and under which names. The output is written in
 * source order (layer by layer, entry by entry), so parents mostly precede children and every hard link
 * follows the member that carries its content.
 */
final class MergePlan {

  /** What to write when the source entry at a position streams by. */
  sealed interface Emission permits Dir, Content, Link {}

  /** A directory, under its path. */
  record Dir(PathName path) implements Emission {}

  /** The entry's content and metadata under {@code path}: the first surviving name of the inode. */
  record Content(PathName path, Inode inode) implements Emission {}

  /** A hard link named {@code path} to the inode's first name, carrying the inode's metadata. */
  record Link(PathName path, Inode inode, PathName target) implements Emission {}

  /** Emissions by source position ({@link FsTree#position}). */
  final PositionMap<Emission> byPosition = new PositionMap<>();
  /** Inodes some {@link Link} names: only their first name's header is remembered while writing. */
  final Set<Inode> linkTargets = Collections.newSetFromMap(new IdentityHashMap<>());
  /** Whiteout and opaque entry names, sorted, written before everything else (partial squash only). */
  final List<String> whiteouts = new ArrayList<>();
  /** The paths the emissions name. */
  final PathTrie paths;
  private final Set<Integer> layersNeeded = new HashSet<>();

  private MergePlan(PathTrie paths) {
    this.paths = paths;
  }

  boolean needsLayer(int layer) {
    return layersNeeded.contains(layer);
  }

  /**
   * @param tree the file system after every layer; for a partial squash made with {@code keep} as its {@code
   *     trackFrom}, so that it knows what the squashed layers hid of the kept ones
   * @param keep how many layers are kept as they are (0 for a full squash)
   */
  static MergePlan build(FsTree tree, int keep) {
    MergePlan plan = new MergePlan(tree.paths);
    // The names of each inode: the path itself for the usual single name, a list only for hard links (a list
    // per path would cost more heap than the tree itself on a million-path image).
    Map<Inode, Object> members = new IdentityHashMap<>();
    tree.forEach((path, node) -> {
      if (node.dir()) {
        if (node.layer() >= keep) {
          plan.put(node.position(), new Dir(path));
        }
      } else {
        members.merge(node.inode(), path, MergePlan::addName);
      }
    });
    for (Map.Entry<Inode, Object> group : members.entrySet()) {
      Inode inode = group.getKey();
      List<PathName> names = names(group.getValue());
      if (names.stream().allMatch(p -> p.node.layer() < keep)) {
        continue; // unchanged since the kept layers
      }
      // A hard link made in the squashed layers to a file of a kept layer: clients refuse a link whose
      // target is not earlier in the same tar, so the kept names of the inode are written again (same
      // content and metadata) and the link points at one of them; the names stay one file.
      names.sort(Comparator.comparingLong(p -> p.node.position()));
      PathName primary = names.get(0);
      for (PathName p : names) {
        if (p.node.position() == inode.position()) {
          primary = p; // the original name survives: keep content where it was
        }
      }
      plan.put(inode.position(), new Content(primary, inode));
      for (PathName p : names) {
        if (p != primary) {
          plan.put(p.node.position(), new Link(p, inode, primary));
          plan.linkTargets.add(inode);
        }
      }
    }
    if (!tree.hiddenKept.isEmpty()) {
      plan.planWhiteouts(tree, keep);
    }
    return plan;
  }

  @SuppressWarnings("unchecked")
  private static Object addName(Object names, Object another) {
    List<PathName> list;
    if (names instanceof List<?> l) {
      list = (List<PathName>) l;
    } else {
      list = new ArrayList<>(2);
      list.add((PathName) names);
    }
    list.add((PathName) another);
    return list;
  }

  @SuppressWarnings("unchecked")
  private static List<PathName> names(Object names) {
    return names instanceof List<?> l ? (List<PathName>) l : new ArrayList<>(List.of((PathName) names));
  }

  private void put(long position, Emission emission) {
    Emission previous = byPosition.put(position, emission);
    if (previous != null) {
      throw new IllegalStateException("two emissions at one position: " + previous + ", " + emission);
    }
    layersNeeded.add((int) (position >>> 32));
  }

  /**
   * Whiteouts for the paths of the kept layers that the squashed layers hide. A directory the squashed
   * layers reset (opaque marker, or deleted and made again) whose every lower descendant is hidden gets
   * one opaque marker; other hidden paths get one whiteout at the topmost hidden name.
   *
   * <p>Only the kept layers' nodes the squashed layers hid ({@link FsTree#hiddenKept}) are looked at: a kept
   * node still in the tree is unchanged and needs no whiteout. They are taken a directory before what is in it
   * (by depth), so that a whiteout or opaque marker above a path is decided before the path.
   */
  private void planWhiteouts(FsTree tree, int keep) {
    List<FsTree.Hidden> hidden = new ArrayList<>(tree.hiddenKept);
    hidden.sort(Comparator.comparingInt(h -> h.path().depth())); // stable: same depth stays in the order hidden
    Set<PathName> hiddenRoots = Collections.newSetFromMap(new IdentityHashMap<>());
    Map<PathName, Boolean> opaqueDirs = new IdentityHashMap<>();
    Map<PathName, Boolean> hasNodesBelow = new IdentityHashMap<>();
    TreeSet<String> names = new TreeSet<>();
    for (FsTree.Hidden h : hidden) {
      PathName path = h.path();
      if (path.isRoot()) {
        continue;
      }
      Node now = path.node;
      PathName target;
      if (now != null) {
        if (!now.dir() || h.node().dir()) {
          continue; // replaced by an entry of the squashed layer
        }
        // A directory of the squashed layers where a kept layer has a file or symlink. The squashed layer
        // writes entries in source order: the directory's entry where it was last declared, a hard link's
        // content where its inode was made. Either can put an entry below this path before the directory,
        // and it must not meet the kept non-directory there (an extractor would refuse it, or follow a
        // symlink out of the tree). Whited out first, the path is an implicit directory until then.
        target = path;
      } else {
        // Hide the topmost name that no longer exists at all; an implicit parent (no entry of its own,
        // only children) is gone once its last child is, and must be whited out itself.
        target = topmostGone(path, hasNodesBelow);
      }
      if (coveredByAncestor(target, hiddenRoots, opaqueDirs) || hiddenRoots.contains(target)) {
        continue;
      }
      PathName parent = target.parent;
      boolean opaque = opaqueDirs.computeIfAbsent(parent, d -> qualifiesForOpaque(d, tree, keep));
      if (opaque) {
        names.add(Whiteouts.opaqueFor(parent.toString()));
      } else {
        names.add(Whiteouts.whiteoutFor(target.toString()));
        hiddenRoots.add(target);
      }
    }
    whiteouts.addAll(names);
  }

  /** @param hasNodesBelow what {@link PathName#hasNodesBelow} said of each path asked before */
  private static PathName topmostGone(PathName path, Map<PathName, Boolean> hasNodesBelow) {
    PathName target = path;
    for (PathName a = path.parent; a != null && !a.isRoot(); a = a.parent) {
      if (a.node != null || hasNodesBelow.computeIfAbsent(a, PathName::hasNodesBelow)) {
        break;
      }
      target = a;
    }
    return target;
  }

  private static boolean coveredByAncestor(PathName path, Set<PathName> hiddenRoots,
      Map<PathName, Boolean> opaqueDirs) {
    for (PathName a = path.parent; a != null; a = a.parent) {
      if (hiddenRoots.contains(a) || Boolean.TRUE.equals(opaqueDirs.get(a))) {
        return true;
      }
      if (a.isRoot()) {
        return false;
      }
      Node n = a.node;
      if (n != null && !n.dir()) {
        return true; // a non-directory now stands where the parent was
      }
    }
    return false;
  }

  private static boolean qualifiesForOpaque(PathName dir, FsTree tree, int keep) {
    if (!tree.resetDirs.contains(dir)) {
      return false;
    }
    if (!dir.isRoot()) {
      Node n = dir.node;
      if (n != null && !n.dir()) {
        return false;
      }
    }
    // A kept layer's node still in the tree is one of the kept file system's: an opaque marker would hide it.
    return !dir.anyBelow(p -> p.node != null && p.node.layer() < keep);
  }
}
