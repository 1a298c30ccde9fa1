package io.squashproxy.core.testing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A reference applier for OCI layer changesets, written independently of squash-core's {@code FsTree} and
 * {@code MergePlan}: it applies layer tars one by one into an in-memory model of the root file system and
 * tells what an extractor would leave on disk.
 *
 * <p>Rules (OCI image spec, layer.md): entries apply in order and a later entry replaces the path; a
 * directory over a directory replaces only its metadata; anything else over a directory removes the
 * directory with everything below it; {@code .wh.NAME} removes NAME and everything below it, and
 * {@code DIR/.wh..wh..opq} removes everything below DIR, but both only what lower layers put there
 * (entries of the same layer survive, whatever their order); other {@code .wh..wh.} names are AUFS
 * bookkeeping and ignored. A hard link binds to the inode its target path holds when the link is applied
 * ({@code link(2)}), so it keeps that content when the target path later changes. Parents that have no
 * entry of their own are implicit directories.
 *
 * <p>Invalid input (unsafe names, a parent that is not a directory, a hard link to nothing or to a
 * directory) throws {@link IllegalStateException}.
 */
public final class RefFs {

  /**
   * Everything about one file-system object that the squash must keep. Content is described by
   * {@link TarListing#describe}; xattr values by {@link TarListing#show} (byte-exact).
   */
  public record Meta(char kind, long mode, long uid, long gid, String uname, String gname, String mtime,
      String content, String symlink, long devMajor, long devMinor, SortedMap<String, String> xattrs) {

    public Meta {
      xattrs = Collections.unmodifiableSortedMap(new TreeMap<>(xattrs));
    }

    public String brief() {
      switch (kind) {
        case 'd':
          return "dir";
        case 'f':
          return "file " + content;
        case 'l':
          return "symlink -> " + symlink;
        case 'p':
          return "fifo";
        case 'c':
          return "char " + devMajor + "," + devMinor;
        case 'b':
          return "block " + devMajor + "," + devMinor;
        default:
          return "kind " + kind;
      }
    }

    @Override
    public String toString() {
      return brief() + " mode=0" + Long.toOctalString(mode) + " owner=" + uid + ":" + gid + "(" + uname + ":"
          + gname + ") mtime=" + mtime + (xattrs.isEmpty() ? "" : " xattrs=" + xattrs);
    }
  }

  /**
   * One tar member: {@code kind} is {@code f d l h c b p}; for a hard link ({@code h}) {@code linkName} is
   * the target and {@code meta} the link header's own metadata. {@code pax} holds the raw PAX records.
   */
  public record Entry(String name, char kind, Meta meta, String linkName, Map<String, byte[]> pax) {
    public boolean isWhiteoutName() {
      String base = baseName(clean(name));
      return base.startsWith(".wh.");
    }
  }

  private static final class Node {
    final Meta meta;
    final int layer;
    final int inode; // -1 for directories
    final int inodeLayer;

    Node(Meta meta, int layer, int inode, int inodeLayer) {
      this.meta = meta;
      this.layer = layer;
      this.inode = inode;
      this.inodeLayer = inodeLayer;
    }

    boolean dir() {
      return meta.kind() == 'd';
    }
  }

  private final TreeMap<String, Node> nodes = new TreeMap<>();
  private int nextInode;

  /** Applies the layers in order, layer i being index i. */
  public static RefFs of(List<byte[]> tars) {
    RefFs fs = new RefFs();
    for (int i = 0; i < tars.size(); i++) {
      fs.applyTar(i, tars.get(i));
    }
    return fs;
  }

  public void applyTar(int layer, byte[] tar) {
    for (Entry e : TarListing.read(tar)) {
      apply(layer, e);
    }
  }

  public void apply(int layer, Entry e) {
    String path = clean(e.name());
    String base = baseName(path);
    String parent = parentOf(path);
    if (base.equals(".wh..wh..opq")) {
      removeBelow(parent, layer);
      return;
    }
    if (base.startsWith(".wh..wh.")) {
      return;
    }
    if (base.startsWith(".wh.")) {
      String victim = parent.isEmpty() ? base.substring(4) : parent + "/" + base.substring(4);
      Node n = nodes.get(victim);
      if (n != null && n.layer < layer) {
        nodes.remove(victim);
      }
      removeBelow(victim, layer);
      return;
    }
    if (path.isEmpty() && e.kind() != 'd') {
      throw new IllegalStateException("the root must be a directory: " + e.name());
    }
    for (String a = parentOf(path); !a.isEmpty(); a = parentOf(a)) {
      Node n = nodes.get(a);
      if (n != null && !n.dir()) {
        throw new IllegalStateException("parent " + a + " of " + e.name() + " is not a directory");
      }
    }
    Node existing = nodes.get(path);
    Node node;
    if (e.kind() == 'd') {
      nodes.put(path, new Node(e.meta(), layer, -1, layer));
      return;
    } else if (e.kind() == 'h') {
      Node target = nodes.get(clean(e.linkName()));
      if (target == null || target.dir()) {
        throw new IllegalStateException("hard link " + e.name() + " to missing or directory " + e.linkName());
      }
      node = new Node(target.meta, layer, target.inode, target.inodeLayer);
    } else {
      node = new Node(e.meta(), layer, nextInode++, layer);
    }
    if (existing != null ? existing.dir() : hasChildren(path)) {
      removeBelow(path, Integer.MAX_VALUE); // a directory, explicit or implicit, replaced by a non-directory
    }
    nodes.put(path, node);
  }

  /** Removes what lies strictly below {@code dir} and came from layers lower than {@code layer}. */
  private void removeBelow(String dir, int layer) {
    String prefix = dir.isEmpty() ? "" : dir + "/";
    nodes.entrySet().removeIf(en -> !en.getKey().isEmpty() && en.getKey().startsWith(prefix)
        && en.getValue().layer < layer);
  }

  // ---------------------------------------------------------------- queries (for generators and tests)

  /** True when {@code path} holds something, an implicit directory included. */
  public boolean exists(String path) {
    return path.isEmpty() || nodes.containsKey(path) || hasChildren(path);
  }

  public boolean isDir(String path) {
    Node n = nodes.get(path);
    return path.isEmpty() || (n != null ? n.dir() : hasChildren(path));
  }

  public boolean hasChildren(String path) {
    String prefix = path.isEmpty() ? "" : path + "/";
    String k = nodes.ceilingKey(prefix);
    if (path.isEmpty()) {
      return nodes.higherKey("") != null;
    }
    return k != null && k.startsWith(prefix);
  }

  /** The metadata at {@code path}, or null for nothing or an implicit directory. */
  public Meta meta(String path) {
    Node n = nodes.get(path);
    return n == null ? null : n.meta;
  }

  /** Explicit paths, sorted. */
  public List<String> paths() {
    return new ArrayList<>(nodes.keySet());
  }

  /** Every directory, implicit ones and the root ("") included. */
  public List<String> dirs() {
    TreeSet<String> out = new TreeSet<>();
    out.add("");
    for (Map.Entry<String, Node> en : nodes.entrySet()) {
      if (en.getValue().dir()) {
        out.add(en.getKey());
      }
      for (String a = parentOf(en.getKey()); !a.isEmpty(); a = parentOf(a)) {
        out.add(a);
      }
    }
    return new ArrayList<>(out);
  }

  public List<String> nonDirs() {
    List<String> out = new ArrayList<>();
    nodes.forEach((k, v) -> {
      if (!v.dir()) {
        out.add(k);
      }
    });
    return out;
  }

  public List<String> below(String dir) {
    String prefix = dir.isEmpty() ? "" : dir + "/";
    List<String> out = new ArrayList<>();
    for (String k : nodes.keySet()) {
      if (!k.isEmpty() && k.startsWith(prefix)) {
        out.add(k);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- the comparable view

  /** What an extractor leaves: paths with their metadata, and which paths share an inode. */
  public record View(SortedMap<String, String> paths, SortedSet<String> linkGroups) {
    /** Paths with only their kind and content ("dir", "file 'x'", "symlink -> t", ...). */
    public SortedMap<String, String> brief() {
      SortedMap<String, String> out = new TreeMap<>();
      paths.forEach((k, v) -> out.put(k, v.startsWith("dir (implicit)") ? v : v.substring(0, v.indexOf(" mode="))));
      return out;
    }

    /** A readable list of the differences, empty when equal. */
    public String diff(View other) {
      StringBuilder sb = new StringBuilder();
      TreeSet<String> all = new TreeSet<>(paths.keySet());
      all.addAll(other.paths.keySet());
      for (String p : all) {
        String a = paths.get(p);
        String b = other.paths.get(p);
        if (a == null || !a.equals(b)) {
          sb.append("  ").append(p.isEmpty() ? "./" : p).append(":\n    expected ").append(a)
              .append("\n    actual   ").append(b).append('\n');
        }
      }
      if (!linkGroups.equals(other.linkGroups)) {
        sb.append("  hard link groups:\n    expected ").append(linkGroups).append("\n    actual   ")
            .append(other.linkGroups).append('\n');
      }
      return sb.toString();
    }
  }

  public View view() {
    return view(0);
  }

  /**
   * The view: every path with its metadata, and the hard link groups. A partial squash must keep the
   * groups exactly, also when a squashed layer linked to a file of a kept layer ({@code keep} is kept in
   * the signature for callers; it no longer changes the expectation).
   */
  public View view(int keep) {
    SortedMap<String, String> out = new TreeMap<>();
    Map<String, SortedSet<String>> groups = new TreeMap<>();
    for (Map.Entry<String, Node> en : nodes.entrySet()) {
      Node n = en.getValue();
      out.put(en.getKey(), n.meta.toString());
      for (String a = parentOf(en.getKey()); !a.isEmpty(); a = parentOf(a)) {
        if (!nodes.containsKey(a)) {
          out.put(a, "dir (implicit)");
        }
      }
      if (!n.dir()) {
        groups.computeIfAbsent("inode " + n.inode, k -> new TreeSet<>()).add(en.getKey());
      }
    }
    SortedSet<String> linkGroups = new TreeSet<>();
    for (SortedSet<String> g : groups.values()) {
      if (g.size() > 1) {
        linkGroups.add(String.join(" = ", g));
      }
    }
    return new View(Collections.unmodifiableSortedMap(out), Collections.unmodifiableSortedSet(linkGroups));
  }

  // ---------------------------------------------------------------- paths

  /**
   * Cleans a member name: relative, no "." or empty segments, no trailing slash, "" for the root.
   * Absolute names and ".." segments are refused.
   */
  public static String clean(String name) {
    if (name.startsWith("/")) {
      throw new IllegalStateException("absolute name " + name);
    }
    List<String> parts = new ArrayList<>();
    for (String s : name.split("/")) {
      if (s.isEmpty() || s.equals(".")) {
        continue;
      }
      if (s.equals("..")) {
        throw new IllegalStateException("'..' in " + name);
      }
      parts.add(s);
    }
    return String.join("/", parts);
  }

  public static String parentOf(String path) {
    int slash = path.lastIndexOf('/');
    return slash < 0 ? "" : path.substring(0, slash);
  }

  public static String baseName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }
}
