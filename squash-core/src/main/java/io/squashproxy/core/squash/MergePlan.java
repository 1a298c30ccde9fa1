package io.squashproxy.core.squash;

import io.squashproxy.core.layer.EntryPaths;
import io.squashproxy.core.layer.Whiteouts;
import io.squashproxy.core.squash.FsTree.Inode;
import io.squashproxy.core.squash.FsTree.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which source entries the squashed layer is made of, and under which names. The output is written in
 * source order (layer by layer, entry by entry), so parents mostly precede children and every hard link
 * follows the member that carries its content.
 */
final class MergePlan {

  /** What to write when the source entry at a position streams by. */
  sealed interface Emission permits Dir, Content, Link {}

  /** A directory, under its (cleaned) path. */
  record Dir(String path) implements Emission {}

  /** The entry's content and metadata under {@code path}: the first surviving name of the inode. */
  record Content(String path, Inode inode) implements Emission {}

  /** A hard link named {@code path} to the inode's first name, carrying the inode's metadata. */
  record Link(String path, Inode inode, String target) implements Emission {}

  /** Emissions by source position ({@link FsTree#position}). */
  final PositionMap<Emission> byPosition = new PositionMap<>();
  /** Inodes some {@link Link} names: only their first name's header is remembered while writing. */
  final Set<Inode> linkTargets = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
  /** Whiteout and opaque entry names, sorted, written before everything else (partial squash only). */
  final List<String> whiteouts = new ArrayList<>();
  private final Set<Integer> layersNeeded = new HashSet<>();

  boolean needsLayer(int layer) {
    return layersNeeded.contains(layer);
  }

  /**
   * @param tree the file system after every layer
   * @param lower the file system after the kept layers (empty for a full squash)
   * @param keep how many layers are kept as they are
   */
  static MergePlan build(FsTree tree, NavigableMap<String, Node> lower, int keep) {
    MergePlan plan = new MergePlan();
    // The names of each inode: the tree's own entry for the usual single name, a list only for hard links (a
    // list per path would cost more heap than the tree itself on a million-path image).
    Map<Inode, Object> members = new IdentityHashMap<>();
    for (Map.Entry<String, Node> e : tree.nodes.entrySet()) {
      Node node = e.getValue();
      if (node.dir()) {
        if (node.layer() >= keep) {
          plan.put(node.position(), new Dir(e.getKey()));
        }
      } else {
        members.merge(node.inode(), e, MergePlan::addName);
      }
    }
    for (Map.Entry<Inode, Object> group : members.entrySet()) {
      Inode inode = group.getKey();
      List<Map.Entry<String, Node>> names = names(group.getValue());
      if (names.stream().allMatch(e -> e.getValue().layer() < keep)) {
        continue; // unchanged since the kept layers
      }
      // A hard link made in the squashed layers to a file of a kept layer: clients refuse a link whose
      // target is not earlier in the same tar, so the kept names of the inode are written again (same
      // content and metadata) and the link points at one of them; the names stay one file.
      names.sort(Comparator.comparingLong(e -> e.getValue().position()));
      Map.Entry<String, Node> primary = names.get(0);
      for (Map.Entry<String, Node> e : names) {
        if (e.getValue().position() == inode.position()) {
          primary = e; // the original name survives: keep content where it was
        }
      }
      plan.put(inode.position(), new Content(primary.getKey(), inode));
      for (Map.Entry<String, Node> e : names) {
        if (e != primary) {
          plan.put(e.getValue().position(), new Link(e.getKey(), inode, primary.getKey()));
          plan.linkTargets.add(inode);
        }
      }
    }
    if (!lower.isEmpty()) {
      plan.planWhiteouts(tree, lower);
    }
    return plan;
  }

  @SuppressWarnings("unchecked")
  private static Object addName(Object names, Object another) {
    List<Map.Entry<String, Node>> list;
    if (names instanceof List<?> l) {
      list = (List<Map.Entry<String, Node>>) l;
    } else {
      list = new ArrayList<>(2);
      list.add((Map.Entry<String, Node>) names);
    }
    list.add((Map.Entry<String, Node>) another);
    return list;
  }

  @SuppressWarnings("unchecked")
  private static List<Map.Entry<String, Node>> names(Object names) {
    return names instanceof List<?> l ? (List<Map.Entry<String, Node>>) l
        : new ArrayList<>(List.of((Map.Entry<String, Node>) names));
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
   */
  private void planWhiteouts(FsTree tree, NavigableMap<String, Node> lower) {
    TreeMap<String, Node> fin = tree.nodes;
    Set<String> hiddenRoots = new HashSet<>();
    Map<String, Boolean> opaqueDirs = new HashMap<>();
    TreeMap<String, Boolean> names = new TreeMap<>();
    for (Map.Entry<String, Node> e : lower.entrySet()) {
      String path = e.getKey();
      if (path.isEmpty()) {
        continue;
      }
      Node now = fin.get(path);
      String target;
      if (now != null) {
        if (!now.dir() || e.getValue().dir()) {
          continue; // unchanged, or replaced by an entry of the squashed layer
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
        target = topmostGone(path, fin);
      }
      if (coveredByAncestor(target, fin, hiddenRoots, opaqueDirs) || hiddenRoots.contains(target)) {
        continue;
      }
      String parent = EntryPaths.parent(target);
      boolean opaque = opaqueDirs.computeIfAbsent(parent, d -> qualifiesForOpaque(d, tree, lower));
      if (opaque) {
        names.put(Whiteouts.opaqueFor(parent), true);
      } else {
        names.put(Whiteouts.whiteoutFor(target), true);
        hiddenRoots.add(target);
      }
    }
    whiteouts.addAll(names.keySet());
  }

  private static String topmostGone(String path, TreeMap<String, Node> fin) {
    String target = path;
    for (String a = EntryPaths.parent(path); a != null && !a.isEmpty(); a = EntryPaths.parent(a)) {
      if (fin.containsKey(a) || !FsTree.descendants(fin, a).isEmpty()) {
        break;
      }
      target = a;
    }
    return target;
  }

  private static boolean coveredByAncestor(String path, TreeMap<String, Node> fin, Set<String> hiddenRoots,
      Map<String, Boolean> opaqueDirs) {
    for (String a = EntryPaths.parent(path); a != null; a = EntryPaths.parent(a)) {
      if (hiddenRoots.contains(a) || Boolean.TRUE.equals(opaqueDirs.get(a))) {
        return true;
      }
      if (a.isEmpty()) {
        return false;
      }
      Node n = fin.get(a);
      if (n != null && !n.dir()) {
        return true; // a non-directory now stands where the parent was
      }
    }
    return false;
  }

  private static boolean qualifiesForOpaque(String dir, FsTree tree, NavigableMap<String, Node> lower) {
    if (!tree.resetDirs.contains(dir)) {
      return false;
    }
    if (!dir.isEmpty()) {
      Node n = tree.nodes.get(dir);
      if (n != null && !n.dir()) {
        return false;
      }
    }
    for (Map.Entry<String, Node> e : FsTree.descendants(lower, dir).entrySet()) {
      if (tree.nodes.get(e.getKey()) == e.getValue()) {
        return false; // a lower descendant still shows: an opaque marker would hide it
      }
    }
    return true;
  }
}
