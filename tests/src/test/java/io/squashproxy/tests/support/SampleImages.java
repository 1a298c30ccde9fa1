package io.squashproxy.tests.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.LayerTar.Entry;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

/** Test images built with real tools. */
public final class SampleImages {

  private SampleImages() {}

  /** {@code security.capability} for cap_setuid,cap_net_raw+ep (v2): binary, with 0x00, 0x20 and 0x80 bytes. */
  public static final byte[] CAP_SETUID_NET_RAW = HexFormat.of().parseHex("0100000280200000000000000000000000000000");

  /** A user xattr whose value holds a NUL, a newline, '=' and bytes that are not UTF-8. */
  public static final byte[] AWKWARD_XATTR = HexFormat.of().parseHex("00ff0a3d80fe41");

  /** The mtime of {@code app/keep}, 2001-02-03T04:05:06Z. */
  static final long KEEP_MTIME = 981_173_106L;

  /** A 120-character file name (longer than ustar's 100-byte name field). */
  public static final String LONG_NAME = "n".repeat(120);

  /** A path longer than 100 bytes whose last component is short, in nested directories. */
  public static final String LONG_DIR = "app/special/" + "deep-directory-name-0123456789/".repeat(4);

  /**
   * Five layers (four by umoci, one hand-written; with {@linkplain #rich(String, boolean) hostile shapes}) that
   * exercise what a squasher must get right:
   * <ol>
   *   <li>base: a static busybox with symlinked and hard-linked applets, /etc files, a sticky /tmp;</li>
   *   <li>special files: a hard link pair, symlinks (relative, absolute, dangling, with their own mtime),
   *       a setuid file owned by 1000 (chown then chmod), setgid file and dir, sticky dir, char and block
   *       devices, a fifo, {@code security.capability} set with setcap, user and trusted xattrs (one binary),
   *       an owner uid too big for ustar, a mode-0000 file, names with a space, non-ASCII and over 100 bytes;</li>
   *   <li>changes: deletions (whiteouts), a directory deleted and recreated, a directory replaced by a file
   *       and a file by a directory, content and metadata-only changes, a hard link added to a lower file,
   *       one name of a hard link pair and of the busybox link group removed;</li>
   *   <li>hand-written: an opaque directory ({@code .wh..wh..opq}) with a recreated subdirectory, a hard link
   *       after its target, binary {@code SCHILY.xattr} values including security.capability, a whiteout, a
   *       device, fixed old mtimes, a hard link to a file of layer 1;</li>
   *   <li>umoci again on top: adds under the opaque directory, deletes a hand-written file, rewrites a file.</li>
   * </ol>
   * Then a config with env, cmd, entrypoint, working dir, user and a label.
   */
  public static ImageBuilder rich(String tag) {
    return rich(tag, true);
  }

  /**
   * As {@link #rich(String)}, with or without two layer shapes that docker, containerd and podman refuse to
   * load but umoci unpacks (and a squasher must turn into shapes every client loads):
   * <ul>
   *   <li>umoci (layer 3) replaces the directory {@code app/dir2file} by a file and writes the file entry
   *       followed by a whiteout below it ({@code app/dir2file/.wh.sub}); without hostile shapes an extra
   *       hand-written layer writes just the file entry over the lower directory, as docker's own diffs do;</li>
   *   <li>the hand-written layer 4 adds {@code app/raw/link-to-lower}, a hard link to {@code app/keep} of
   *       layer 1, whose target is not in the same tar.</li>
   * </ul>
   */
  public static ImageBuilder rich(String tag, boolean hostile) {
    Env.requireTools("setcap", "setfattr", "getfattr");
    Path busybox = Env.busybox();
    ImageBuilder b = ImageBuilder.create(tag);
    try {
      b.layer("base: busybox", String.join("\n",
          "mkdir -p bin usr/bin etc tmp root var/empty app",
          "cp " + busybox + " bin/busybox",
          "for a in sh ls cat echo true env; do ln -s busybox bin/$a; done",
          "ln bin/busybox usr/bin/mv",
          "ln bin/busybox usr/bin/cp",
          "printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n' > etc/passwd",
          "printf 'root:x:0:\\nnogroup:x:65534:\\n' > etc/group",
          "chmod 1777 tmp",
          "chmod 700 root",
          "mkdir -p app/old/nested app/dir2file/sub app/opq/lowerdir",
          "echo a > app/old/a",
          "echo b > app/old/nested/b",
          "echo x > app/dir2file/sub/x",
          "echo v1 > app/file2dir",
          "echo keep > app/keep",
          "echo delete > app/delete-me",
          "echo l1 > app/opq/lower1",
          "echo l2 > app/opq/lowerdir/f",
          "echo v1 > app/modified",
          "echo meta > app/meta-only",
          "echo target > app/link-later-target",
          "echo pair > app/pair-a",
          "ln app/pair-a app/pair-b",
          "touch -d @" + KEEP_MTIME + " app/keep"));
      b.layer("special files", String.join("\n",
          "mkdir -p app/special",
          "echo hello > app/special/hl-a",
          "ln app/special/hl-a app/special/hl-b",
          "ln -s ../keep app/special/sym-rel",
          "ln -s /etc/passwd app/special/sym-abs",
          "ln -s does-not-exist app/special/dangling",
          "touch -h -d @1012615322 app/special/sym-rel",
          "cp bin/busybox app/special/suid",
          "chown 1000:1000 app/special/suid",
          "chmod 4755 app/special/suid",
          "echo g > app/special/sgid-file",
          "chown 0:50 app/special/sgid-file",
          "chmod 2755 app/special/sgid-file",
          "mkdir app/special/sgid-dir",
          "chown 0:50 app/special/sgid-dir",
          "chmod 2775 app/special/sgid-dir",
          "mkdir app/special/sticky",
          "chmod 1777 app/special/sticky",
          "mknod app/special/null c 1 3",
          "mknod app/special/loop200 b 7 200",
          "mkfifo app/special/fifo",
          "cp bin/busybox app/special/ping",
          "setcap cap_setuid,cap_net_raw+ep app/special/ping",
          "echo x > app/special/xattrs",
          "setfattr -n user.note -v hello app/special/xattrs",
          "setfattr -n user.bin -v 0x" + HexFormat.of().formatHex(AWKWARD_XATTR) + " app/special/xattrs",
          "setfattr -n trusted.t -v t app/special/xattrs",
          "echo o > app/special/big-uid",
          "chown 3000000:3000001 app/special/big-uid",
          "echo secret > app/special/mode0",
          "chmod 0 app/special/mode0",
          "echo ro > app/special/readonly",
          "chmod 0444 app/special/readonly",
          ": > app/special/empty",
          "echo space > 'app/special/with space'",
          "echo u > 'app/special/\u00fcn\u00efc\u00f6d\u00e9'",
          "echo long > app/special/" + LONG_NAME,
          "mkdir -p " + LONG_DIR,
          "echo deep > " + LONG_DIR + "file"));
      b.layer("changes", String.join("\n",
          "rm app/delete-me",
          "rm -r app/old",
          "mkdir -p app/old",
          "echo c > app/old/c",
          hostile ? "rm -r app/dir2file; echo now-a-file > app/dir2file" : ":",
          "rm app/file2dir",
          "mkdir app/file2dir",
          "echo inner > app/file2dir/inner",
          "echo v2-longer > app/modified",
          "chmod 600 app/meta-only",
          "chown 7:7 app/meta-only",
          "ln app/link-later-target app/link-later",
          "rm app/pair-b",
          "rm bin/true",
          "rm usr/bin/cp"));
      b.rawLayer("hand-written: opaque dir, links, binary xattrs", t -> t
          .add(Entry.dir("app/opq/").mode(0750))
          .add(Entry.opaque("app/opq"))
          .add(Entry.file("app/opq/upper1", "u1\n"))
          .add(Entry.dir("app/opq/lowerdir/"))
          .add(Entry.file("app/opq/lowerdir/g", "g\n"))
          .add(Entry.dir("app/raw/"))
          .add(Entry.file("app/raw/target", "t\n").mode(0640).owner(12, 34))
          .add(Entry.hardlink("app/raw/link", "app/raw/target").mode(0640).owner(12, 34))
          .add(Entry.file("app/raw/cap", "cap\n").mode(0755).xattr("security.capability", CAP_SETUID_NET_RAW))
          .add(Entry.file("app/raw/userx", "x\n").xattr("user.bin", AWKWARD_XATTR).xattr("user.s", "v"))
          .add(Entry.symlink("app/raw/sym", "target").mtime(1_234_567_890L))
          .add(Entry.file("app/raw/old-mtime", "old\n").mtime(1_000_000_000L))
          .add(Entry.file("app/raw/keeps-old-mtime", "old\n").mtime(999_999_999L))
          .add(Entry.charDevice("app/raw/zero", 1, 5).mode(0666))
          .add(Entry.whiteout("app/special/dangling"))
          .add(Entry.whiteout("app/special/sym-abs"))
          .add(hostile
              ? Entry.hardlink("app/raw/link-to-lower", "app/keep").mtime(KEEP_MTIME)
              : Entry.file("app/raw/plain", "plain\n")));
      if (!hostile) {
        b.rawLayer("hand-written: a file over a lower directory",
            t -> t.add(Entry.file("app/dir2file", "now-a-file\n")));
      }
      b.layer("after the hand-written layer", String.join("\n",
          "echo after > app/opq/after",
          "rm app/raw/old-mtime",
          "echo v3 > app/modified"));
      b.config("--config.env", "FOO=bar", "--config.env", "PATH=/bin:/usr/bin", "--config.cmd", "-c",
          "--config.cmd", "echo hi", "--config.entrypoint", "/bin/sh", "--config.workingdir", "/app",
          "--config.user", "0:0", "--config.label", "org.example.test=squash");
      return b;
    } catch (RuntimeException | Error e) {
      b.close();
      throw e;
    }
  }

  /** Checks the reference tree of {@link #rich} really shows every layer's effect (so comparisons mean something). */
  public static void checkRichReference(Path rootfs, boolean hostile) {
    RootfsTree t = RootfsTree.scan(rootfs);
    for (String p : List.of("bin/busybox", "bin/sh", "usr/bin/mv", "etc/passwd", "app/keep", "app/old/c",
        "app/dir2file", "app/file2dir/inner", "app/opq/upper1", "app/opq/lowerdir/g", "app/opq/after",
        "app/raw/target", "app/raw/link", "app/raw/cap", "app/raw/userx", "app/raw/sym", "app/raw/zero",
        "app/raw/keeps-old-mtime", "app/link-later", "app/pair-a", "app/special/hl-a", "app/special/hl-b",
        "app/special/sym-rel", "app/special/suid", "app/special/null", "app/special/loop200",
        "app/special/fifo", "app/special/ping", "app/special/big-uid", "app/special/mode0",
        "app/special/with space", "app/special/\u00fcn\u00efc\u00f6d\u00e9", "app/special/" + LONG_NAME,
        LONG_DIR + "file")) {
      assertNotNull(t.get(p), "reference rootfs lacks " + p);
    }
    for (String p : List.of("app/delete-me", "app/old/a", "app/old/nested", "app/dir2file/sub",
        "app/opq/lower1", "app/opq/lowerdir/f", "app/special/dangling", "app/special/sym-abs",
        "app/raw/old-mtime", "app/pair-b", "bin/true", "usr/bin/cp")) {
      assertNull(t.get(p), "reference rootfs still has " + p);
    }
    assertEquals("file", t.get("app/dir2file").type());
    assertEquals("dir", t.get("app/file2dir").type());
    assertEquals(04755, t.get("app/special/suid").mode());
    assertEquals(1000, t.get("app/special/suid").uid());
    assertEquals(List.of("app/raw/link", "app/raw/target"), t.linkGroup("app/raw/target"));
    assertEquals(List.of("app/link-later", "app/link-later-target"), t.linkGroup("app/link-later"));
    assertEquals(List.of("bin/busybox", "usr/bin/mv"), t.linkGroup("bin/busybox"));
    assertEquals(HexFormat.of().formatHex(CAP_SETUID_NET_RAW),
        t.get("app/special/ping").xattrs().get("security.capability").substring(2));
    assertEquals(HexFormat.of().formatHex(CAP_SETUID_NET_RAW),
        t.get("app/raw/cap").xattrs().get("security.capability").substring(2));
    assertEquals(HexFormat.of().formatHex(AWKWARD_XATTR), t.get("app/raw/userx").xattrs().get("user.bin").substring(2));
    assertEquals(3000000, t.get("app/special/big-uid").uid());
    assertEquals(hostile ? List.of("app/keep", "app/raw/link-to-lower") : List.of("app/keep"),
        t.linkGroup("app/keep"));
    assertEquals("v3\n", read(rootfs.resolve("app/modified")));
    assertTrue(t.nodes().size() > 60, "reference tree is suspiciously small: " + t.nodes().size());
  }

  private static String read(Path p) {
    try {
      return java.nio.file.Files.readString(p);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
