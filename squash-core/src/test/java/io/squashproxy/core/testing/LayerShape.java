package io.squashproxy.core.testing;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks on the shape of a squashed layer tar that clients rely on, beyond the file system it yields.
 * Each returns a list of violations (empty when fine) so a caller can report them with its seed.
 */
public final class LayerShape {
  private LayerShape() {}

  /** Rules for any squashed layer (full or partial). */
  public static List<String> common(List<RefFs.Entry> entries) {
    List<String> problems = new ArrayList<>();
    Map<String, RefFs.Entry> earlier = new HashMap<>();
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < entries.size(); i++) {
      RefFs.Entry e = entries.get(i);
      String path = RefFs.clean(e.name());
      if (!seen.add(path)) {
        problems.add("entry " + i + " '" + e.name() + "': path appears twice");
      }
      if (e.kind() == 'h') {
        RefFs.Entry target = earlier.get(RefFs.clean(e.linkName()));
        if (target == null) {
          problems.add("entry " + i + " '" + e.name() + "': hard link to '" + e.linkName()
              + "', which is not an earlier entry of this tar");
        } else if (target.kind() == 'h' || target.kind() == 'd') {
          problems.add("entry " + i + " '" + e.name() + "': hard link to a " + target.kind() + " entry");
        } else {
          RefFs.Meta t = target.meta();
          RefFs.Meta l = e.meta();
          if (t.mode() != l.mode() || t.uid() != l.uid() || t.gid() != l.gid() || !t.uname().equals(l.uname())
              || !t.gname().equals(l.gname()) || !t.mtime().equals(l.mtime()) || !t.xattrs().equals(l.xattrs())) {
            problems.add("entry " + i + " '" + e.name() + "': hard link metadata " + l
                + " differs from its target's " + t);
          }
        }
      }
      if (!e.isWhiteoutName()) {
        earlier.put(path, e);
      }
    }
    return problems;
  }

  /** A full squash: no whiteouts or opaque markers at all, plus {@link #common}. */
  public static List<String> fullSquash(List<RefFs.Entry> entries) {
    List<String> problems = new ArrayList<>(common(entries));
    for (int i = 0; i < entries.size(); i++) {
      if (entries.get(i).isWhiteoutName()) {
        problems.add("entry " + i + " '" + entries.get(i).name() + "': whiteout in a fully squashed layer");
      }
    }
    return problems;
  }

  /**
   * A partial squash over {@code kept} (the file system of the kept layers): every whiteout hides
   * something the kept layers have, an opaque marker sits in a directory with kept children, and no entry
   * is followed by a whiteout or opaque marker below (or at) its path. Plus {@link #common}.
   */
  public static List<String> partialSquash(List<RefFs.Entry> entries, RefFs kept) {
    List<String> problems = new ArrayList<>(common(entries));
    List<String> written = new ArrayList<>();
    for (int i = 0; i < entries.size(); i++) {
      RefFs.Entry e = entries.get(i);
      String path = RefFs.clean(e.name());
      if (!e.isWhiteoutName()) {
        written.add(path);
        continue;
      }
      String base = RefFs.baseName(path);
      String dir = RefFs.parentOf(path);
      if (base.startsWith(".wh..wh.")) {
        if (!base.equals(".wh..wh..opq")) {
          problems.add("entry " + i + " '" + e.name() + "': AUFS metadata entry");
        } else if (!kept.isDir(dir) || !kept.hasChildren(dir)) {
          problems.add("entry " + i + " '" + e.name() + "': opaque marker in a directory with no kept children");
        }
      } else {
        String victim = dir.isEmpty() ? base.substring(4) : dir + "/" + base.substring(4);
        if (!kept.exists(victim)) {
          problems.add("entry " + i + " '" + e.name() + "': whiteout of '" + victim
              + "', which the kept layers do not have");
        }
      }
      String hidden = base.equals(".wh..wh..opq") ? dir : (dir.isEmpty() ? "" : dir + "/") + base.substring(4);
      boolean opaque = base.equals(".wh..wh..opq");
      for (String p : written) {
        if (p.isEmpty() || path.startsWith(p + "/")) {
          problems.add("entry " + i + " '" + e.name() + "': whiteout after the entry for '"
              + (p.isEmpty() ? "./" : p) + "' that it lies under");
        } else if ((!opaque && p.equals(hidden)) || (hidden.isEmpty() ? !p.isEmpty() : p.startsWith(hidden + "/"))) {
          problems.add("entry " + i + " '" + e.name() + "': whiteout after the entry for '" + p
              + "' that it would hide from extractors that apply whiteouts in order");
        }
      }
    }
    return problems;
  }
}
