package io.squashproxy.core.squash;

import io.squashproxy.core.layer.EntryPaths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The plan's entries that eStargz puts before the prefetch landmark, chosen as Go's {@code estargz.Build} chooses
 * them ({@code WithPrioritizedFiles}): each listed path with its parent directories and, for a hard link, what it
 * links to. A path the squashed layer does not hold is skipped (a kept layer may hold it, or nothing does).
 * They are written in the plan's order, not the list's: the snapshotter prefetches everything before the landmark
 * as one range, so the order inside it does not matter, and the plan's order keeps every link after its target.
 */
final class PrioritizedEntries {
  private PrioritizedEntries() {}

  /** The positions ({@link FsTree#position}) of the plan's entries to write first. */
  static Set<Long> positions(MergePlan plan, List<String> paths) {
    Map<PathName, Long> byPath = new IdentityHashMap<>();
    Map<PathName, PathName> linkTargets = new IdentityHashMap<>();
    plan.byPosition.forEach((position, emission) -> {
      PathName path;
      if (emission instanceof MergePlan.Dir d) {
        path = d.path();
      } else if (emission instanceof MergePlan.Content c) {
        path = c.path();
      } else {
        MergePlan.Link l = (MergePlan.Link) emission;
        linkTargets.put(l.path(), l.target());
        path = l.path();
      }
      byPath.put(path, position);
    });
    Set<Long> out = new HashSet<>();
    Set<PathName> done = Collections.newSetFromMap(new IdentityHashMap<>());
    for (String p : paths) {
      // A path no layer has: its parents that some layer has still come first, as with Go's estargz.
      String clean = clean(p);
      PathName found = plan.paths.find(clean);
      for (String a = clean; found == null && a != null; a = EntryPaths.parent(a)) {
        found = plan.paths.find(a);
      }
      add(found, byPath, linkTargets, out, done);
    }
    return out;
  }

  private static void add(PathName path, Map<PathName, Long> byPath, Map<PathName, PathName> linkTargets,
      Set<Long> out, Set<PathName> done) {
    List<PathName> chain = new ArrayList<>();
    for (PathName a = path; a != null; a = a.parent) {
      chain.add(a);
    }
    for (int i = chain.size() - 1; i >= 0; i--) {
      PathName a = chain.get(i);
      if (!done.add(a)) {
        continue;
      }
      PathName target = linkTargets.get(a);
      if (target != null) {
        add(target, byPath, linkTargets, out, done);
      }
      Long position = byPath.get(a);
      if (position != null) {
        out.add(position);
      }
    }
  }

  /** A listed path as the plan names it: relative, normalised ({@code /usr/bin/app} is {@code usr/bin/app}). */
  static String clean(String path) {
    String p = path.trim();
    while (p.startsWith("/")) {
      p = p.substring(1);
    }
    return EntryPaths.clean(p);
  }
}
