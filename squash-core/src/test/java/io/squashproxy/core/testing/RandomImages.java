package io.squashproxy.core.testing;

import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Generates random but valid layer stacks from a seed: random trees, deletions (whiteouts), renames,
 * type changes, opaque directories (with same-layer children before or after the marker), hard link
 * groups, xattrs (binary ones too), setuid/setgid/sticky modes, big ids, PAX fractional mtimes, long and
 * non-UTF-8 names, {@code ./} prefixes and duplicate entries.
 *
 * <p>Validity (no parent that is a file, no hard link to nothing) is kept by tracking the file system
 * with {@link RefFs} as entries are emitted.
 */
public final class RandomImages {

  /** The layers, and a listing of what was emitted for failure messages. */
  public record Generated(long seed, List<byte[]> tars, RefFs state, String log) {}

  private static final String[] SEGMENTS = {"a", "b", "c", "d", "e", "bin", "etc", "usr", "f.txt", ".cfg",
      "caf\u00e9", "\u00ff\u00fe", "L" + "o".repeat(70), "x y"};
  private static final byte[] CAPABILITY = {1, 0, 0, 2, 0x20, 0, 0, 0, (byte) 0xff, (byte) 0xfe, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0};

  private final Random r;
  private final RefFs state = new RefFs();
  private final StringBuilder log = new StringBuilder();
  private final Map<String, TarEntry> headers = new HashMap<>();
  private final Map<String, byte[]> contents = new HashMap<>();
  private int layer;
  private LayerBuilder lb;
  private boolean buildLike;
  /** Paths emitted in the layer being generated (build-like images never touch them again there). */
  private final java.util.Set<String> thisLayer = new java.util.HashSet<>();

  private RandomImages(long seed) {
    this.r = new Random(seed);
  }

  public static Generated generate(long seed) {
    return generate(seed, false);
  }

  /**
   * With {@code buildLike}, layers look like what image builders write (each a diff of two file-system
   * snapshots): no path twice in a layer, hard links only to files of the same layer.
   */
  public static Generated generate(long seed, boolean buildLike) {
    RandomImages g = new RandomImages(seed);
    g.buildLike = buildLike;
    List<byte[]> tars = new ArrayList<>();
    int layers = 2 + g.r.nextInt(5);
    for (g.layer = 0; g.layer < layers; g.layer++) {
      g.lb = LayerBuilder.layer();
      g.thisLayer.clear();
      g.log.append("layer ").append(g.layer).append(":\n");
      int ops = g.layer == 0 ? 4 + g.r.nextInt(16) : 1 + g.r.nextInt(10);
      for (int i = 0; i < ops; i++) {
        if (g.layer == 0) {
          g.addOp();
        } else {
          g.anyOp();
        }
      }
      tars.add(g.lb.tar());
    }
    return new Generated(seed, tars, g.state, g.log.toString());
  }

  private void anyOp() {
    int k = r.nextInt(100);
    if (k < 30) {
      addOp();
    } else if (k < 42) {
      whiteoutOp();
    } else if (k < 50) {
      opaqueOp();
    } else if (k < 58) {
      renameOp();
    } else if (k < 66) {
      typeChangeOp();
    } else if (k < 74) {
      modifyOp();
    } else if (k < 82) {
      replaceOp();
    } else if (k < 90) {
      hardlinkOp();
    } else if (buildLike) {
      addOp();
    } else if (k < 95) {
      duplicateOp();
    } else {
      emit(header("", TarType.DIRECTORY, "", 0, 0), null); // the root, with new metadata
    }
  }

  private void addOp() {
    int k = r.nextInt(100);
    String path = randomPath();
    if (touched(path)) {
      return;
    }
    ensureParents(path);
    if (k < 45) {
      emitFile(path);
    } else if (k < 65) {
      emit(header(path, TarType.DIRECTORY, "", 0, 0), null);
    } else if (k < 75) {
      emit(header(path, TarType.SYMLINK, randomLinkTarget(), 0, 0), null);
    } else if (k < 85) {
      hardlinkTo(path);
    } else if (k < 90) {
      emit(header(path, TarType.FIFO, "", 0, 0), null);
    } else if (k < 95) {
      emit(header(path, TarType.CHAR_DEVICE, "", 1 + r.nextInt(10), r.nextInt(300)), null);
    } else {
      emit(header(path, TarType.BLOCK_DEVICE, "", 8, r.nextInt(64)), null);
    }
  }

  private void whiteoutOp() {
    String victim;
    List<String> existing = existingPaths();
    if (!existing.isEmpty() && r.nextInt(10) < 8) {
      victim = pick(existing);
    } else {
      victim = child(pick(state.dirs()), pick(SEGMENTS)); // may not exist: a harmless whiteout
    }
    emitWhiteout(victim);
  }

  private void opaqueOp() {
    String dir = pick(state.dirs());
    boolean markerFirst = r.nextBoolean();
    if (markerFirst) {
      emitOpaque(dir);
    }
    int children = r.nextInt(4);
    for (int i = 0; i < children; i++) {
      String path = child(dir, pick(SEGMENTS));
      if (r.nextInt(3) == 0) {
        path = child(path, pick(SEGMENTS));
      }
      if (touched(path)) {
        continue;
      }
      ensureParents(path);
      if (r.nextBoolean()) {
        emitFile(path);
      } else {
        emit(header(path, TarType.DIRECTORY, "", 0, 0), null);
      }
    }
    if (!markerFirst) {
      emitOpaque(dir);
    }
  }

  private void renameOp() {
    List<String> existing = untouched(state.paths());
    existing.remove("");
    if (existing.isEmpty()) {
      return;
    }
    String from = pick(existing);
    String to = randomPath();
    if (state.exists(to) || to.startsWith(from + "/") || touched(to)) {
      return;
    }
    boolean whiteoutFirst = r.nextBoolean();
    List<String> below = state.below(from);
    RefFs.Meta meta = state.meta(from);
    if (whiteoutFirst) {
      emitWhiteout(from);
    }
    ensureParents(to);
    if (meta.kind() != 'd') {
      if (!whiteoutFirst && !buildLike && r.nextBoolean()) {
        emitHardlink(to, from); // mv keeps the inode: a new name of it, then the old name goes
      } else {
        copy(from, to);
      }
    } else {
      copy(from, to);
      for (String p : below) {
        String dest = to + p.substring(from.length());
        ensureParents(dest);
        copy(p, dest);
      }
    }
    if (!whiteoutFirst) {
      emitWhiteout(from);
    }
  }

  private void typeChangeOp() {
    List<String> existing = untouched(state.paths());
    existing.remove("");
    if (existing.isEmpty()) {
      return;
    }
    String path = pick(existing);
    char kind = state.meta(path).kind();
    char to;
    do {
      to = "fdlp".charAt(r.nextInt(4));
    } while (to == kind);
    switch (to) {
      case 'f' -> emitFile(path);
      case 'd' -> emit(header(path, TarType.DIRECTORY, "", 0, 0), null);
      case 'l' -> emit(header(path, TarType.SYMLINK, randomLinkTarget(), 0, 0), null);
      default -> emit(header(path, TarType.FIFO, "", 0, 0), null);
    }
  }

  private void modifyOp() {
    List<String> existing = untouched(state.paths());
    if (existing.isEmpty()) {
      return;
    }
    String path = pick(existing);
    RefFs.Meta m = state.meta(path);
    TarEntry h = headers.get(path);
    switch (m.kind()) {
      case 'd' -> emit(header(path, TarType.DIRECTORY, "", 0, 0), null);
      case 'f' -> emitFile(path);
      default -> emit(header(path, h.type(), h.linkName(), h.devMajor(), h.devMinor()), null);
    }
  }

  /** Whiteout and a new entry at the same path in one layer, in either order. */
  private void replaceOp() {
    List<String> existing = existingPaths();
    if (existing.isEmpty()) {
      return;
    }
    String path = pick(existing);
    boolean whiteoutFirst = r.nextBoolean();
    if (whiteoutFirst) {
      emitWhiteout(path);
    }
    ensureParents(path);
    if (r.nextBoolean()) {
      emitFile(path);
    } else {
      emit(header(path, TarType.DIRECTORY, "", 0, 0), null);
      if (r.nextBoolean()) {
        emitFile(child(path, pick(SEGMENTS)));
      }
    }
    if (!whiteoutFirst) {
      emitWhiteout(path);
    }
  }

  private void hardlinkOp() {
    String path = randomPath();
    ensureParents(path);
    hardlinkTo(path);
  }

  private void duplicateOp() {
    String path = randomPath();
    ensureParents(path);
    emitFile(path);
    emitFile(path);
  }

  // ------------------------------------------------------------------------------------------ emitting

  private void hardlinkTo(String name) {
    List<String> targets = new ArrayList<>();
    for (String p : state.nonDirs()) {
      char kind = state.meta(p).kind();
      if (buildLike && !thisLayer.contains(p)) {
        continue;
      }
      if (!p.equals(name) && (kind == 'f' || r.nextInt(4) == 0)) {
        targets.add(p);
      }
    }
    if (targets.isEmpty()) {
      emitFile(name);
      return;
    }
    emitHardlink(name, pick(targets));
  }

  private void emitHardlink(String name, String target) {
    TarEntry t = headers.get(target);
    TarEntry link = t.asHardlink(render(name, false), render(target, false));
    contents.put(name, contents.get(target));
    emitRaw(link, null, name, t);
  }

  private void copy(String from, String to) {
    TarEntry h = headers.get(from);
    byte[] c = contents.get(from);
    TarEntry copy = new TarEntry(render(to, h.type() == TarType.DIRECTORY), h.type(), h.mode(), h.uid(), h.gid(),
        c == null ? 0 : c.length, h.mtime(), h.linkName(), h.uname(), h.gname(), h.devMajor(), h.devMinor(),
        h.pax());
    emitRaw(copy, c, to, copy);
  }

  private void emitFile(String path) {
    byte[] content = randomContent();
    TarEntry h = header(path, TarType.REGULAR, "", 0, 0);
    h = new TarEntry(h.name(), h.type(), h.mode(), h.uid(), h.gid(), content.length, h.mtime(), "", h.uname(),
        h.gname(), 0, 0, h.pax());
    emit(h, content);
  }

  private void emit(TarEntry e, byte[] content) {
    emitRaw(e, content, RefFs.clean(e.name()), e);
  }

  private void emitRaw(TarEntry e, byte[] content, String path, TarEntry metadataSource) {
    thisLayer.add(path);
    lb.entry(e, content);
    state.apply(layer, TarListing.fromTarEntry(e, content));
    headers.put(path, metadataSource);
    if (content != null) {
      contents.put(path, content);
    }
    log.append("  ").append(TarType.describe(e.type())).append(' ').append(e.name())
        .append(e.linkName().isEmpty() ? "" : " -> " + e.linkName()).append('\n');
  }

  private void emitWhiteout(String victim) {
    String parent = RefFs.parentOf(victim);
    String dirPart = parent.isEmpty() ? (r.nextInt(4) == 0 ? "./" : "") : (r.nextInt(5) == 0 ? "./" : "") + parent + "/";
    emitMarker(dirPart + ".wh." + RefFs.baseName(victim));
  }

  private void emitOpaque(String dir) {
    String dirPart = dir.isEmpty() ? (r.nextInt(4) == 0 ? "./" : "") : (r.nextInt(5) == 0 ? "./" : "") + dir + "/";
    emitMarker(dirPart + ".wh..wh..opq");
  }

  private void emitMarker(String name) {
    TarEntry e = TarEntry.of(name, TarType.REGULAR, 0, 0);
    lb.entry(e, new byte[0]);
    state.apply(layer, TarListing.fromTarEntry(e, new byte[0]));
    log.append("  ").append(name).append('\n');
  }

  /** Makes every ancestor of {@code path} a directory (explicit or implicit). */
  private void ensureParents(String path) {
    List<String> ancestors = new ArrayList<>();
    for (String a = RefFs.parentOf(path); !a.isEmpty(); a = RefFs.parentOf(a)) {
      ancestors.add(0, a);
    }
    for (String a : ancestors) {
      RefFs.Meta m = state.meta(a);
      if ((m != null && m.kind() != 'd') || (!state.exists(a) && r.nextInt(3) == 0)) {
        emit(header(a, TarType.DIRECTORY, "", 0, 0), null);
      }
    }
  }

  // ------------------------------------------------------------------------------------------ random bits

  private TarEntry header(String path, byte type, String link, long major, long minor) {
    long mode = switch (type) {
      case TarType.DIRECTORY -> pick(new long[] {0755, 0755, 0700, 01777, 02775});
      case TarType.REGULAR -> pick(new long[] {0644, 0644, 0755, 04755, 02755, 06711, 0600, 0444});
      case TarType.SYMLINK -> 0777;
      default -> pick(new long[] {0660, 0644, 0600});
    };
    long uid = pick(new long[] {0, 0, 0, 1000, 65534, 2097152, 4_000_000_000L});
    long gid = pick(new long[] {0, 0, 0, 1000, 65534, 3_000_000L});
    String uname = pick(new String[] {"root", "root", "", "user", "u".repeat(40)});
    String gname = pick(new String[] {"root", "root", "", "staff", "caf\u00e9"});
    long mtime = pick(new long[] {LayerBuilder.DEFAULT_MTIME, 1_700_000_000L + r.nextInt(1000), 0});
    Map<String, byte[]> pax = new LinkedHashMap<>();
    if (r.nextInt(8) == 0) {
      String frac = pick(new String[] {"5", "123456789", "000000001", "25"});
      pax.put("mtime", (mtime + "." + frac).getBytes(StandardCharsets.US_ASCII));
    }
    if (type != TarType.SYMLINK && r.nextInt(6) == 0) {
      int which = r.nextInt(3);
      if (which == 0) {
        pax.put("SCHILY.xattr.security.capability", CAPABILITY.clone());
      } else if (which == 1) {
        pax.put("SCHILY.xattr.user.note", "hello".getBytes(StandardCharsets.US_ASCII));
      } else {
        byte[] v = new byte[1 + r.nextInt(12)];
        r.nextBytes(v);
        pax.put("SCHILY.xattr.trusted.bin", v);
        pax.put("SCHILY.xattr.user.note", "x".getBytes(StandardCharsets.US_ASCII));
      }
    }
    return new TarEntry(render(path, type == TarType.DIRECTORY), type, mode, uid, gid, 0, mtime, link, uname,
        gname, major, minor, pax);
  }

  private String randomPath() {
    String base;
    if (r.nextBoolean()) {
      base = pick(state.dirs());
    } else {
      base = "";
    }
    String p = child(base, pick(SEGMENTS));
    if (RefFs.clean(p).chars().filter(c -> c == '/').count() < 3 && r.nextInt(3) == 0) {
      p = child(p, pick(SEGMENTS));
    }
    return p;
  }

  private String randomLinkTarget() {
    return switch (r.nextInt(4)) {
      case 0 -> "/etc/" + pick(SEGMENTS);
      case 1 -> "../" + pick(SEGMENTS);
      case 2 -> "/" + "t".repeat(120) + "/target";
      default -> pick(SEGMENTS);
    };
  }

  private byte[] randomContent() {
    int n = switch (r.nextInt(6)) {
      case 0 -> 0;
      case 1 -> 512;
      case 2 -> 1 + r.nextInt(2000);
      default -> 1 + r.nextInt(30);
    };
    byte[] b = new byte[n];
    if (n <= 30 && r.nextBoolean()) {
      for (int i = 0; i < n; i++) {
        b[i] = (byte) ('a' + r.nextInt(26));
      }
    } else {
      r.nextBytes(b);
    }
    return b;
  }

  private List<String> existingPaths() {
    List<String> out = new ArrayList<>(state.dirs());
    out.remove("");
    for (String p : state.nonDirs()) {
      out.add(p);
    }
    return untouched(out);
  }

  /** {@code paths} without those a build-like layer must not touch again ({@link #touched}). */
  private List<String> untouched(List<String> paths) {
    List<String> out = new ArrayList<>(paths);
    out.removeIf(this::touched);
    return out;
  }

  /** Whether a build-like layer already wrote {@code path} or something below it; never for other images. */
  private boolean touched(String path) {
    return buildLike && (thisLayer.contains(path) || thisLayer.stream().anyMatch(t -> t.startsWith(path + "/")));
  }

  private String render(String path, boolean dir) {
    if (path.isEmpty()) {
      return r.nextBoolean() ? "./" : ".";
    }
    String p = r.nextInt(5) == 0 ? "./" + path : path;
    return dir && r.nextInt(4) != 0 ? p + "/" : p;
  }

  private static String child(String dir, String name) {
    return dir.isEmpty() ? name : dir + "/" + name;
  }

  private <T> T pick(List<T> list) {
    return list.get(r.nextInt(list.size()));
  }

  private String pick(String[] a) {
    return a[r.nextInt(a.length)];
  }

  private long pick(long[] a) {
    return a[r.nextInt(a.length)];
  }
}
