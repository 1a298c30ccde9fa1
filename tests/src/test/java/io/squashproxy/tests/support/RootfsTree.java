package io.squashproxy.tests.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * A snapshot of an unpacked root filesystem, for exact comparison: type, mode (with setuid, setgid, sticky),
 * uid, gid, size, content sha256, symlink target, hard link groups (paths sharing an inode), device numbers,
 * mtime of everything but directories, and xattrs (all namespaces, read with getfattr since Java cannot read
 * {@code security.*}).
 */
public final class RootfsTree {

  /** One path; {@code path} is relative to the root, the root itself is ".". */
  public record Node(String path, String type, int mode, long uid, long gid, long size, String sha256,
      String linkTarget, long rdev, FileTime mtime, Map<String, String> xattrs, long inode) {}

  private final Path root;
  private final Map<String, Node> nodes;
  private final Map<String, List<String>> linkGroups;

  private RootfsTree(Path root, Map<String, Node> nodes, Map<String, List<String>> linkGroups) {
    this.root = root;
    this.nodes = nodes;
    this.linkGroups = linkGroups;
  }

  public Path root() {
    return root;
  }

  public Map<String, Node> nodes() {
    return nodes;
  }

  public Node get(String path) {
    return nodes.get(path);
  }

  /** Other paths sharing {@code path}'s inode, the path included; a single element when not linked. */
  public List<String> linkGroup(String path) {
    return linkGroups.getOrDefault(path, List.of(path));
  }

  public static RootfsTree scan(Path root) {
    Path r;
    try {
      r = root.toRealPath();
    } catch (IOException e) {
      throw new UncheckedIOException("no tree at " + root, e);
    }
    Map<String, Map<String, String>> xattrs = readXattrs(r);
    Map<String, Node> nodes = new TreeMap<>();
    try {
      Files.walkFileTree(r, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
          add(dir);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          add(file);
          return FileVisitResult.CONTINUE;
        }

        private void add(Path p) throws IOException {
          String rel = p.equals(r) ? "." : r.relativize(p).toString();
          Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,size,rdev,ino,lastModifiedTime",
              LinkOption.NOFOLLOW_LINKS);
          int mode = (Integer) a.get("mode");
          String type = typeOf(mode);
          long size = (Long) a.get("size");
          String sha = type.equals("file") ? sha256(p) : null;
          String link = type.equals("symlink") ? Files.readSymbolicLink(p).toString() : null;
          long rdev = type.equals("char") || type.equals("block") ? (Long) a.get("rdev") : 0;
          nodes.put(rel, new Node(rel, type, mode & 07777, ((Number) a.get("uid")).longValue(),
              ((Number) a.get("gid")).longValue(), type.equals("dir") ? 0 : size, sha, link, rdev,
              (FileTime) a.get("lastModifiedTime"), xattrs.getOrDefault(rel, Map.of()), (Long) a.get("ino")));
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<Long, List<String>> byInode = new TreeMap<>();
    for (Node n : nodes.values()) {
      if (!n.type().equals("dir")) {
        byInode.computeIfAbsent(n.inode(), k -> new ArrayList<>()).add(n.path());
      }
    }
    Map<String, List<String>> groups = new TreeMap<>();
    for (List<String> g : byInode.values()) {
      if (g.size() > 1) {
        Collections.sort(g);
        List<String> ro = List.copyOf(g);
        for (String p : g) {
          groups.put(p, ro);
        }
      }
    }
    return new RootfsTree(r, Collections.unmodifiableMap(nodes), groups);
  }

  private static String typeOf(int mode) {
    switch (mode & 0170000) {
      case 0040000:
        return "dir";
      case 0100000:
        return "file";
      case 0120000:
        return "symlink";
      case 0020000:
        return "char";
      case 0060000:
        return "block";
      case 0010000:
        return "fifo";
      case 0140000:
        return "socket";
      default:
        return "unknown-" + Integer.toOctalString(mode);
    }
  }

  static String sha256(Path p) throws IOException {
    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
      return sha256(in);
    }
  }

  public static String sha256(InputStream in) throws IOException {
    MessageDigest md = sha256();
    byte[] b = new byte[1 << 16];
    int n;
    while ((n = in.read(b)) > 0) {
      md.update(b, 0, n);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** All xattrs of all paths (symlinks not followed), keyed by relative path, values in hex. */
  static Map<String, Map<String, String>> readXattrs(Path root) {
    Env.requireTools("getfattr");
    Proc.Result r = Proc.of("getfattr", "-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names",
        root.toString()).timeout(Duration.ofMinutes(2)).run();
    if (r.exitCode() != 0 && !r.stderr().isBlank()) {
      throw new AssertionError("getfattr failed: " + r.describe());
    }
    Map<String, Map<String, String>> out = new TreeMap<>();
    String current = null;
    for (String line : r.stdout().split("\n")) {
      if (line.startsWith("# file: ")) {
        String abs = unescape(line.substring("# file: ".length()));
        Path p = Path.of(abs);
        current = p.equals(root) ? "." : root.relativize(p).toString();
      } else if (!line.isBlank() && current != null) {
        int eq = line.indexOf('=');
        String name = eq < 0 ? line : line.substring(0, eq);
        String value = eq < 0 ? "" : line.substring(eq + 1);
        out.computeIfAbsent(current, k -> new TreeMap<>()).put(name, value);
      }
    }
    return out;
  }

  /** getfattr prints unusual bytes as backslash plus three octal digits. */
  private static String unescape(String s) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] raw = s.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] == '\\' && i + 1 < raw.length && raw[i + 1] == '\\') {
        b.write('\\');
        i++;
      } else if (raw[i] == '\\' && i + 3 < raw.length && isOctal(raw[i + 1]) && isOctal(raw[i + 2])
          && isOctal(raw[i + 3])) {
        b.write(Integer.parseInt(new String(raw, i + 1, 3, StandardCharsets.US_ASCII), 8));
        i += 3;
      } else {
        b.write(raw[i]);
      }
    }
    return b.toString(StandardCharsets.UTF_8);
  }

  private static boolean isOctal(byte c) {
    return c >= '0' && c <= '7';
  }

  /** What to compare. */
  public static final class Options {
    Predicate<String> xattrs = name -> true;
    final Set<String> ignored = new TreeSet<>();
    boolean mtimes = true;

    public static Options exact() {
      return new Options();
    }

    /** Compare only the xattrs whose names pass {@code filter} (clients drop some namespaces). */
    public Options xattrs(Predicate<String> filter) {
      this.xattrs = filter;
      return this;
    }

    /** Leave these paths (and what is below them) out, e.g. what {@code docker create} adds. */
    public Options ignore(String... paths) {
      ignored.addAll(List.of(paths));
      return this;
    }

    public Options noMtimes() {
      this.mtimes = false;
      return this;
    }

    boolean isIgnored(String path) {
      for (String i : ignored) {
        if (path.equals(i) || path.startsWith(i + "/")) {
          return true;
        }
      }
      return false;
    }
  }

  /** Every difference between two trees, one line each; empty when identical. */
  public static List<String> diff(RootfsTree a, RootfsTree b, Options o) {
    List<String> d = new ArrayList<>();
    Set<String> all = new TreeSet<>(a.nodes.keySet());
    all.addAll(b.nodes.keySet());
    for (String p : all) {
      if (o.isIgnored(p)) {
        continue;
      }
      Node x = a.nodes.get(p);
      Node y = b.nodes.get(p);
      if (x == null) {
        d.add("only in " + b.root + ": " + p + " (" + y.type() + ")");
        continue;
      }
      if (y == null) {
        d.add("only in " + a.root + ": " + p + " (" + x.type() + ")");
        continue;
      }
      check(d, p, "type", x.type(), y.type());
      if (!x.type().equals(y.type())) {
        continue;
      }
      check(d, p, "mode", Integer.toOctalString(x.mode()), Integer.toOctalString(y.mode()));
      check(d, p, "uid", x.uid(), y.uid());
      check(d, p, "gid", x.gid(), y.gid());
      check(d, p, "size", x.size(), y.size());
      check(d, p, "sha256", x.sha256(), y.sha256());
      check(d, p, "symlink target", x.linkTarget(), y.linkTarget());
      check(d, p, "rdev", x.rdev(), y.rdev());
      if (o.mtimes && !x.type().equals("dir")) {
        check(d, p, "mtime", x.mtime().toInstant(), y.mtime().toInstant());
      }
      check(d, p, "xattrs", filter(x.xattrs(), o.xattrs), filter(y.xattrs(), o.xattrs));
      List<String> gx = a.linkGroup(p).stream().filter(q -> !o.isIgnored(q)).toList();
      List<String> gy = b.linkGroup(p).stream().filter(q -> !o.isIgnored(q)).toList();
      check(d, p, "hard link group", gx, gy);
    }
    return d;
  }

  private static Map<String, String> filter(Map<String, String> m, Predicate<String> keep) {
    Map<String, String> r = new TreeMap<>();
    m.forEach((k, v) -> {
      if (keep.test(k)) {
        r.put(k, v);
      }
    });
    return r;
  }

  private static void check(List<String> d, String path, String what, Object x, Object y) {
    if (!Objects.equals(x, y)) {
      d.add(path + ": " + what + " " + x + " != " + y);
    }
  }

  /**
   * Fails unless the trees are identical under {@code o}; returns how many paths were compared, so a caller
   * can make sure the comparison was not vacuous.
   */
  public static int assertIdentical(Path expected, Path actual, Options o) {
    RootfsTree a = scan(expected);
    RootfsTree b = scan(actual);
    List<String> d = diff(a, b, o);
    if (!d.isEmpty()) {
      StringBuilder m = new StringBuilder("root filesystems differ (" + d.size() + " differences)\n  expected: "
          + a.root + "\n  actual:   " + b.root + "\n");
      d.stream().limit(80).forEach(line -> m.append("  ").append(line).append('\n'));
      if (d.size() > 80) {
        m.append("  ...\n");
      }
      throw new AssertionError(m.toString());
    }
    return (int) a.nodes.keySet().stream().filter(p -> !o.isIgnored(p)).count();
  }
}
