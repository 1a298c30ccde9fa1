package io.squashproxy.core.tar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.TarListing;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.Test;

class TarCodecTest {
  static final byte[] BINARY = {1, 0, 0, 2, (byte) 0xff, (byte) 0xfe, '\n', '=', ' ', (byte) 0xc3, 0x28, 0};
  static final String NAME_100 = "n".repeat(100);
  static final String NAME_101 = "m".repeat(50) + "/" + "m".repeat(50);
  static final String LATIN1_LONG = "d".repeat(90) + "/caf\u00e9-\u00ff\u00fe-" + "x".repeat(20);

  record Member(TarEntry entry, byte[] content) {}

  static Map<String, byte[]> pax(Object... kv) {
    Map<String, byte[]> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      Object v = kv[i + 1];
      m.put((String) kv[i], v instanceof byte[] b ? b : ((String) v).getBytes(StandardCharsets.UTF_8));
    }
    return m;
  }

  static TarEntry entry(String name, byte type, long mode, long uid, long gid, long size, long mtime, String link,
      String uname, String gname, long major, long minor, Map<String, byte[]> pax) {
    return new TarEntry(name, type, mode, uid, gid, size, mtime, link, uname, gname, major, minor, pax);
  }

  static List<Member> allKinds() {
    byte[] content = new byte[1000];
    for (int i = 0; i < content.length; i++) {
      content[i] = (byte) (i * 7);
    }
    return List.of(
        new Member(entry("./", TarType.DIRECTORY, 0755, 0, 0, 0, 1_600_000_000L, "", "root", "root", 0, 0, null), null),
        new Member(entry("dir/", TarType.DIRECTORY, 01777, 1, 2, 0, 1, "", "daemon", "daemon", 0, 0,
            pax("SCHILY.xattr.trusted.bin", BINARY)), null),
        new Member(entry("dir/file", TarType.REGULAR, 04755, 1000, 1000, content.length, 1_700_000_000L, "", "user",
            "staff", 0, 0, pax("SCHILY.xattr.security.capability", BINARY, "SCHILY.xattr.user.a", "b")), content),
        new Member(entry("empty", TarType.REGULAR, 0600, 0, 0, 0, 0, "", "", "", 0, 0, null), new byte[0]),
        new Member(entry("exact512", TarType.REGULAR, 0644, 0, 0, 512, 5, "", "", "", 0, 0, null), new byte[512]),
        new Member(entry("old-style", TarType.REGULAR_OLD, 0644, 0, 0, 3, 5, "", "", "", 0, 0, null),
            "abc".getBytes(StandardCharsets.US_ASCII)),
        new Member(entry("contiguous", TarType.CONTIGUOUS, 0644, 0, 0, 2, 5, "", "", "", 0, 0, null),
            "xy".getBytes(StandardCharsets.US_ASCII)),
        new Member(entry("hard", TarType.HARDLINK, 04755, 1000, 1000, 0, 1_700_000_000L, "dir/file", "user", "staff",
            0, 0, pax("SCHILY.xattr.security.capability", BINARY)), null),
        new Member(entry("sym", TarType.SYMLINK, 0777, 0, 0, 0, 5, "../target with spaces", "", "", 0, 0, null),
            null),
        new Member(entry("dev/null", TarType.CHAR_DEVICE, 0666, 0, 0, 0, 5, "", "", "", 1, 3, null), null),
        new Member(entry("dev/sda", TarType.BLOCK_DEVICE, 0660, 0, 6, 0, 5, "", "", "disk", 8, 0, null), null),
        new Member(entry("dev/big", TarType.CHAR_DEVICE, 0600, 0, 0, 0, 5, "", "", "", 2097151, 2097151, null), null),
        new Member(entry("fifo", TarType.FIFO, 0644, 0, 0, 0, 5, "", "", "", 0, 0, null), null),
        new Member(entry(NAME_100, TarType.REGULAR, 0644, 0, 0, 1, 5, "", "", "", 0, 0, null), new byte[] {1}),
        new Member(entry(NAME_101, TarType.REGULAR, 0644, 0, 0, 1, 5, "", "", "", 0, 0, null), new byte[] {2}),
        new Member(entry(LATIN1_LONG, TarType.SYMLINK, 0777, 0, 0, 0, 5, "/" + "t".repeat(200), "", "", 0, 0, null),
            null),
        new Member(entry("caf\u00e9", TarType.REGULAR, 0644, 0, 0, 0, 5, "", "\u00e9", "", 0, 0, null), new byte[0]),
        new Member(entry("bigids", TarType.REGULAR, 0644, 2_097_152L, 4_000_000_000L, 0, 5, "", "u".repeat(32),
            "g".repeat(40), 0, 0, null), new byte[0]),
        new Member(entry("frac", TarType.REGULAR, 0644, 0, 0, 0, 1_700_000_000L, "", "", "", 0, 0,
            pax("mtime", "1700000000.123456789", "atime", "1700000001.5", "SCHILY.acl.access", "user::rw-")),
            new byte[0]),
        new Member(entry("negative-mtime", TarType.REGULAR, 0644, 0, 0, 0, -1, "", "", "", 0, 0, null), new byte[0]),
        new Member(entry("future-mtime", TarType.REGULAR, 0644, 0, 0, 0, 077777777777L + 1, "", "", "", 0, 0, null),
            new byte[0]));
  }

  static byte[] write(List<Member> members) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (TarWriter w = new TarWriter(out)) {
      for (Member m : members) {
        w.putEntry(m.entry());
        if (m.content() != null && TarType.hasContent(m.entry().type())) {
          w.write(m.content(), 0, m.content().length);
        }
      }
    }
    return out.toByteArray();
  }

  static List<Member> read(byte[] tar) throws IOException {
    List<Member> out = new ArrayList<>();
    try (TarReader r = new TarReader(new ByteArrayInputStream(tar))) {
      for (TarEntry e = r.next(); e != null; e = r.next()) {
        out.add(new Member(e, TarType.hasContent(e.type()) ? r.content().readAllBytes() : null));
      }
    }
    return out;
  }

  @Test
  void roundTripOfEveryKind() throws IOException {
    List<Member> in = allKinds();
    byte[] tar = write(in);
    assertEquals(0, tar.length % 512);
    assertTrue(isZero(Arrays.copyOfRange(tar, tar.length - 1024, tar.length)), "ends with two zero blocks");
    List<Member> out = read(tar);
    assertEquals(in.size(), out.size());
    for (int i = 0; i < in.size(); i++) {
      TarEntry a = in.get(i).entry();
      TarEntry b = out.get(i).entry();
      String what = a.name();
      assertEquals(a.name(), b.name(), what);
      assertEquals(a.type(), b.type(), what);
      assertEquals(a.mode(), b.mode(), what);
      assertEquals(a.uid(), b.uid(), what);
      assertEquals(a.gid(), b.gid(), what);
      assertEquals(TarType.hasContent(a.type()) ? a.size() : 0, b.size(), what);
      assertEquals(a.mtime(), b.mtime(), what);
      assertEquals(a.linkName(), b.linkName(), what);
      assertEquals(a.uname(), b.uname(), what);
      assertEquals(a.gname(), b.gname(), what);
      assertEquals(a.devMajor(), b.devMajor(), what);
      assertEquals(a.devMinor(), b.devMinor(), what);
      assertEquals(a.xattrs().keySet(), b.xattrs().keySet(), what);
      for (String k : a.xattrs().keySet()) {
        assertArrayEquals(a.xattrs().get(k), b.xattrs().get(k), what + " xattr " + k);
      }
      for (Map.Entry<String, byte[]> p : a.pax().entrySet()) {
        assertArrayEquals(p.getValue(), b.pax().get(p.getKey()), what + " PAX " + p.getKey());
      }
      assertArrayEquals(in.get(i).content() == null ? null : in.get(i).content(), out.get(i).content(), what);
    }
    // Writing what was read gives the same bytes: the codec is stable.
    assertArrayEquals(tar, write(out));
  }

  @Test
  void writerOutputReadsTheSameWithCommonsCompress() throws IOException {
    List<Member> in = allKinds();
    List<io.squashproxy.core.testing.RefFs.Entry> commons = TarListing.read(write(in));
    assertEquals(in.size(), commons.size());
    for (int i = 0; i < in.size(); i++) {
      TarEntry a = in.get(i).entry();
      RefFs.Entry c = commons.get(i);
      assertEquals(a.name(), c.name());
      assertEquals(a.uid(), c.meta().uid(), a.name());
      assertEquals(a.gid(), c.meta().gid(), a.name());
      assertEquals(a.mode(), c.meta().mode(), a.name());
      assertEquals(a.uname(), c.meta().uname(), a.name());
      assertEquals(a.gname(), c.meta().gname(), a.name());
      if (a.type() == TarType.SYMLINK) {
        assertEquals(a.linkName(), c.meta().symlink());
      }
      if (a.type() == TarType.HARDLINK) {
        assertEquals(a.linkName(), c.linkName());
      }
      if (a.type() == TarType.CHAR_DEVICE || a.type() == TarType.BLOCK_DEVICE) {
        assertEquals(a.devMajor(), c.meta().devMajor());
        assertEquals(a.devMinor(), c.meta().devMinor());
      }
    }
    assertEquals("1700000000.123456789", commons.get(18).meta().mtime());
    assertEquals("-1", commons.get(19).meta().mtime());
  }

  @Test
  void paxHeadersOnlyWhereNeeded() throws IOException {
    assertEquals(1, countType(write(List.of(new Member(entry(NAME_100, TarType.REGULAR, 0644, 07777777, 0, 0,
        077777777777L, "", "u".repeat(32), "", 0, 0, null), new byte[0]))), TarType.REGULAR));
    assertEquals(0, countType(write(List.of(new Member(entry(NAME_100, TarType.REGULAR, 0644, 07777777, 0, 0,
        077777777777L, "", "u".repeat(32), "", 0, 0, null), new byte[0]))), TarType.PAX_EXTENDED));
    for (TarEntry e : List.of(
        entry(NAME_101, TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null),
        entry("a", TarType.SYMLINK, 0644, 0, 0, 0, 0, "l".repeat(101), "", "", 0, 0, null),
        entry("a", TarType.REGULAR, 0644, 010000000, 0, 0, 0, "", "", "", 0, 0, null),
        entry("a", TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "g".repeat(33), 0, 0, null))) {
      assertEquals(1, countType(write(List.of(new Member(e, new byte[0]))), TarType.PAX_EXTENDED), e.toString());
    }
  }

  @Test
  void gnuLongNamesAndLinksAreRead() throws IOException {
    String longName = "gnu/" + "n".repeat(150) + "/file";
    String longLink = "/" + "k".repeat(180);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(bytes, "ISO-8859-1")) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_GNU);
      TarArchiveEntry f = new TarArchiveEntry(longName);
      f.setSize(5);
      f.setMode(0100640);
      out.putArchiveEntry(f);
      out.write("hello".getBytes(StandardCharsets.US_ASCII));
      out.closeArchiveEntry();
      TarArchiveEntry s = new TarArchiveEntry("short-name-" + "s".repeat(120), TarConstants.LF_SYMLINK);
      s.setLinkName(longLink);
      out.putArchiveEntry(s);
      out.closeArchiveEntry();
      TarArchiveEntry h = new TarArchiveEntry("hl", TarConstants.LF_LINK);
      h.setLinkName(longName);
      out.putArchiveEntry(h);
      out.closeArchiveEntry();
    }
    byte[] tar = bytes.toByteArray();
    assertTrue(countType(tar, TarType.GNU_LONG_NAME) >= 2, "Commons wrote GNU 'L' headers");
    assertTrue(countType(tar, TarType.GNU_LONG_LINK) >= 2, "Commons wrote GNU 'K' headers");
    List<Member> members = read(tar);
    assertEquals(3, members.size());
    assertEquals(longName, members.get(0).entry().name());
    assertArrayEquals("hello".getBytes(StandardCharsets.US_ASCII), members.get(0).content());
    assertEquals(0640, members.get(0).entry().mode() & 07777);
    assertEquals("short-name-" + "s".repeat(120), members.get(1).entry().name());
    assertEquals(longLink, members.get(1).entry().linkName());
    assertEquals(TarType.HARDLINK, members.get(2).entry().type());
    assertEquals(longName, members.get(2).entry().linkName());
  }

  @Test
  void base256NumbersAreRead() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(bytes)) {
      out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_STAR);
      TarArchiveEntry f = new TarArchiveEntry("big");
      f.setUserId(4_000_000_000L);
      f.setGroupId(3_000_000L);
      f.setSize(2);
      out.putArchiveEntry(f);
      out.write(new byte[] {7, 8});
      out.closeArchiveEntry();
    }
    byte[] tar = bytes.toByteArray();
    assertEquals(0x80, tar[108] & 0x80, "Commons wrote a base-256 uid");
    assertEquals(0, countType(tar, TarType.PAX_EXTENDED));
    Member m = read(tar).get(0);
    assertEquals(4_000_000_000L, m.entry().uid());
    assertEquals(3_000_000L, m.entry().gid());
    assertArrayEquals(new byte[] {7, 8}, m.content());
  }

  @Test
  void handcraftedBase256FieldsIncludingNegative() throws IOException {
    byte[] tar = write(List.of(new Member(entry("f", TarType.REGULAR, 0644, 0, 0, 3, 0, "", "", "", 0, 0, null),
        "abc".getBytes(StandardCharsets.US_ASCII))));
    // uid (8 bytes at 108): base-256 0x80 00 00 00 12 34 56 78
    byte[] uid = {(byte) 0x80, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
    System.arraycopy(uid, 0, tar, 108, 8);
    // size (12 bytes at 124): base-256 3
    byte[] size = new byte[12];
    size[0] = (byte) 0x80;
    size[11] = 3;
    System.arraycopy(size, 0, tar, 124, 12);
    // mtime (12 bytes at 136): base-256 -1 (all ones)
    Arrays.fill(tar, 136, 148, (byte) 0xff);
    fixChecksum(tar, 0);
    Member m = read(tar).get(0);
    assertEquals(0x12345678L, m.entry().uid());
    assertEquals(3, m.entry().size());
    assertEquals(-1, m.entry().mtime());
    assertArrayEquals("abc".getBytes(StandardCharsets.US_ASCII), m.content());
  }

  @Test
  void ustarPrefixFieldIsJoined() throws IOException {
    byte[] tar = write(List.of(new Member(entry("file", TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null),
        new byte[0])));
    byte[] prefix = "some/deep/dir".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(prefix, 0, tar, 345, prefix.length);
    fixChecksum(tar, 0);
    assertEquals("some/deep/dir/file", read(tar).get(0).entry().name());
    assertEquals("some/deep/dir/file", TarListing.read(tar).get(0).name(), "Commons agrees");
  }

  @Test
  void paxRecordsAreKeptRawAndInOrder() throws IOException {
    Map<String, byte[]> records = pax("LIBARCHIVE.xattr.user.x", "eA==", "SCHILY.xattr.user.bin", BINARY,
        "SCHILY.acl.access", "user::rwx", "atime", "1.5", "ctime", "2.25", "mtime", "3.125",
        "SCHILY.xattr.user.utf8", "\u00e9t\u00e9");
    byte[] tar = write(List.of(new Member(entry("f", TarType.REGULAR, 0644, 0, 0, 0, 3, "", "", "", 0, 0, records),
        new byte[0])));
    TarEntry e = read(tar).get(0).entry();
    assertEquals(new ArrayList<>(records.keySet()), new ArrayList<>(e.pax().keySet()));
    for (String k : records.keySet()) {
      assertArrayEquals(records.get(k), e.pax().get(k), k);
    }
    assertArrayEquals(BINARY, e.xattrs().get("user.bin"));
    assertEquals(3, e.mtime());
  }

  @Test
  void globalPaxHeaderAppliesToLaterMembers() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] body = PaxRecords.encode(pax("SCHILY.xattr.user.g", "global", "uname", "globaluser"));
    out.write(rawHeader("pax_global_header", TarType.PAX_GLOBAL, body.length));
    out.write(Arrays.copyOf(body, 512));
    out.write(write(List.of(
        new Member(entry("a", TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null), new byte[0]),
        new Member(entry("b", TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null), new byte[0]))));
    List<Member> m = read(out.toByteArray());
    assertEquals(2, m.size());
    for (Member x : m) {
      assertEquals("globaluser", x.entry().uname());
      assertArrayEquals("global".getBytes(StandardCharsets.US_ASCII), x.entry().xattrs().get("user.g"));
    }
  }

  @Test
  void headerOnlyTypesCarryNoContentWhateverTheirSize() throws IOException {
    byte[] tar = write(List.of(
        new Member(entry("d/", TarType.DIRECTORY, 0755, 0, 0, 0, 0, "", "", "", 0, 0, null), null),
        new Member(entry("f", TarType.REGULAR, 0644, 0, 0, 2, 0, "", "", "", 0, 0, null), new byte[] {1, 2})));
    byte[] size = "00000001000\0".getBytes(StandardCharsets.US_ASCII); // 512, on the directory
    System.arraycopy(size, 0, tar, 124, 12);
    fixChecksum(tar, 0);
    List<Member> m = read(tar);
    assertEquals(List.of("d/", "f"), m.stream().map(x -> x.entry().name()).toList());
    assertArrayEquals(new byte[] {1, 2}, m.get(1).content());
  }

  @Test
  void skippingUnreadContent() throws IOException {
    byte[] big = new byte[70_000];
    big[69_999] = 9;
    byte[] tar = write(List.of(
        new Member(entry("big", TarType.REGULAR, 0644, 0, 0, big.length, 0, "", "", "", 0, 0, null), big),
        new Member(entry("after", TarType.REGULAR, 0644, 0, 0, 1, 0, "", "", "", 0, 0, null), new byte[] {5})));
    try (TarReader r = new TarReader(new ByteArrayInputStream(tar))) {
      assertEquals("big", r.next().name());
      assertEquals(0, r.content().read()); // read one byte, leave the rest
      TarEntry after = r.next();
      assertEquals("after", after.name());
      assertEquals(5, r.content().read());
      assertEquals(-1, r.content().read());
      assertNull(r.next());
      assertNull(r.next());
      assertTrue(r.position() >= tar.length - 1024 && r.position() <= tar.length, "position " + r.position());
    }
  }

  @Test
  void endOfArchiveVariants() throws IOException {
    byte[] tar = write(List.of(new Member(entry("a", TarType.REGULAR, 0644, 0, 0, 1, 0, "", "", "", 0, 0, null),
        new byte[] {1})));
    assertEquals(1, read(Arrays.copyOf(tar, tar.length - 512)).size(), "one zero block");
    assertEquals(1, read(Arrays.copyOf(tar, tar.length - 1024)).size(), "no zero block");
    assertEquals(0, read(new byte[0]).size(), "empty stream");
    byte[] padded = Arrays.copyOf(tar, tar.length + 8192); // record padding after the end
    assertEquals(1, read(padded).size());
  }

  @Test
  void corruptArchivesAreRefused() throws IOException {
    byte[] tar = write(List.of(new Member(entry("a", TarType.REGULAR, 0644, 0, 0, 600, 0, "", "", "", 0, 0, null),
        new byte[600])));
    byte[] badSum = tar.clone();
    badSum[0] = 'b';
    assertThrows(TarFormatException.class, () -> read(badSum));
    assertThrows(EOFException.class, () -> read(Arrays.copyOf(tar, 300)), "truncated header");
    assertThrows(EOFException.class, () -> read(Arrays.copyOf(tar, 512 + 100)), "truncated content");
    byte[] junk = "x".repeat(1024).getBytes(StandardCharsets.US_ASCII);
    assertThrows(TarFormatException.class, () -> read(junk));
    byte[] badOctal = tar.clone();
    badOctal[100] = '9';
    fixChecksum(badOctal, 0);
    assertThrows(TarFormatException.class, () -> read(badOctal));
    byte[] unknownType = tar.clone();
    unknownType[156] = 'V';
    fixChecksum(unknownType, 0);
    assertThrows(TarFormatException.class, () -> read(unknownType));
    byte[] sparse = tar.clone();
    sparse[156] = 'S';
    fixChecksum(sparse, 0);
    assertThrows(TarFormatException.class, () -> read(sparse));
  }

  @Test
  void sparsePaxRecordsAreRefused() throws IOException {
    byte[] tar = write(List.of(new Member(entry("a", TarType.REGULAR, 0644, 0, 0, 0, 0, "", "", "", 0, 0,
        pax("GNU.sparse.major", "1", "GNU.sparse.minor", "0")), new byte[0])));
    assertThrows(TarFormatException.class, () -> read(tar));
  }

  @Test
  void writerChecksContentLength() throws IOException {
    TarWriter w = new TarWriter(new ByteArrayOutputStream());
    w.putEntry(entry("a", TarType.REGULAR, 0644, 0, 0, 2, 0, "", "", "", 0, 0, null));
    assertThrows(IllegalStateException.class, () -> w.write(new byte[3], 0, 3));
    w.write(new byte[1], 0, 1);
    assertThrows(IllegalStateException.class, () -> w.putEntry(entry("b", TarType.REGULAR, 0644, 0, 0, 0, 0, "",
        "", "", 0, 0, null)));
    assertThrows(IllegalStateException.class, w::finish);
  }

  @Test
  void writingIsDeterministic() throws IOException {
    assertArrayEquals(write(allKinds()), write(allKinds()));
    assertFalse(Arrays.equals(write(allKinds().subList(0, 3)), write(allKinds().subList(1, 4))));
  }

  // ------------------------------------------------------------------------------------------ helpers

  static int countType(byte[] tar, byte type) {
    int n = 0;
    int pos = 0;
    while (pos + 512 <= tar.length && !isZero(Arrays.copyOfRange(tar, pos, pos + 512))) {
      byte t = tar[pos + 156];
      long size = 0;
      for (int i = 124; i < 135 && tar[pos + i] >= '0'; i++) {
        size = size * 8 + (tar[pos + i] - '0');
      }
      if (t == type) {
        n++;
      }
      boolean content = t == '0' || t == 0 || t == '7' || t == 'x' || t == 'g' || t == 'L' || t == 'K';
      pos += 512 + (content ? (int) ((size + 511) / 512 * 512) : 0);
    }
    return n;
  }

  static byte[] rawHeader(String name, byte type, long size) {
    byte[] h = new byte[512];
    System.arraycopy(name.getBytes(StandardCharsets.US_ASCII), 0, h, 0, name.length());
    System.arraycopy("0000644\0".getBytes(StandardCharsets.US_ASCII), 0, h, 100, 8);
    String s = String.format("%011o", size);
    System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, h, 124, 11);
    h[156] = type;
    System.arraycopy("ustar\00000".getBytes(StandardCharsets.US_ASCII), 0, h, 257, 8);
    fixChecksum(h, 0);
    return h;
  }

  static void fixChecksum(byte[] tar, int off) {
    Arrays.fill(tar, off + 148, off + 156, (byte) ' ');
    long sum = 0;
    for (int i = off; i < off + 512; i++) {
      sum += tar[i] & 0xff;
    }
    byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(chk, 0, tar, off + 148, 8);
  }

  static boolean isZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }
}
