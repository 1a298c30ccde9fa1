package io.squashproxy.core.estargz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * An eStargz reader for tests, written from the spec and the Go reader rather than from {@link EstargzWriter}: it
 * walks the blob gzip member by member, parses the footer and the TOC, and checks what the snapshotter relies on
 * (every TOC offset is a member start whose bytes are the chunk's, chunk and file digests, the TOC digest, the
 * landmark). {@link #verify} fails the test with what is wrong.
 */
public final class EstargzReader {
  /** A gzip member: where it starts in the blob and in the uncompressed stream, and its uncompressed bytes. */
  public record Member(long offset, long tarOffset, byte[] data) {}

  /** A tar member of the uncompressed stream with its content. */
  public record Item(TarEntry entry, byte[] content) {}

  public final List<Member> members = new ArrayList<>();
  public final byte[] tar;
  public final long tocOffset;
  public final byte[] tocJson;
  public final JsonNode toc;
  public final List<Item> items = new ArrayList<>();

  private EstargzReader(byte[] blob) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    int pos = 0;
    while (pos < blob.length) {
      Member m = member(blob, pos, all.size());
      members.add(m);
      all.writeBytes(m.data);
      pos = (int) (m.offset + compressedLength);
    }
    tar = all.toByteArray();
    byte[] footer = Arrays.copyOfRange(blob, blob.length - EstargzWriter.FOOTER_SIZE, blob.length);
    Member last = members.get(members.size() - 1);
    assertEquals(blob.length - EstargzWriter.FOOTER_SIZE, last.offset, "the footer is the last member, 51 bytes");
    assertEquals(0, last.data.length, "the footer holds no data");
    assertEquals(4, footer[3], "the footer has FEXTRA only");
    assertEquals(26, (footer[10] & 0xff) | (footer[11] & 0xff) << 8, "extra field length");
    assertEquals("SG", new String(footer, 12, 2, StandardCharsets.US_ASCII));
    assertEquals(22, (footer[14] & 0xff) | (footer[15] & 0xff) << 8, "subfield length");
    String sub = new String(footer, 16, 22, StandardCharsets.US_ASCII);
    assertTrue(sub.endsWith("STARGZ"), sub);
    tocOffset = Long.parseLong(sub.substring(0, 16), 16);
    Member tocMember = memberAt(tocOffset);
    assertNotNull(tocMember, "the TOC offset " + tocOffset + " is a member start");
    assertEquals(members.get(members.size() - 2), tocMember, "the TOC member is the last before the footer");
    try (TarReader r = new TarReader(new ByteArrayInputStream(tocMember.data))) {
      TarEntry e = r.next();
      assertEquals(EstargzWriter.TOC_NAME, e.name(), "the TOC member starts with the TOC entry");
      tocJson = r.content().readAllBytes();
      assertEquals(null, r.next(), "the TOC member ends the tar");
    }
    assertEquals(1024 + 512 + tocJson.length + ((512 - tocJson.length % 512) % 512), tocMember.data.length,
        "TOC member: its header, the JSON, padding and the two zero blocks");
    toc = new ObjectMapper().readTree(tocJson);
    try (TarReader r = new TarReader(new ByteArrayInputStream(tar))) {
      for (TarEntry e = r.next(); e != null; e = r.next()) {
        items.add(new Item(e, e.isRegular() ? r.content().readAllBytes() : new byte[0]));
      }
    }
  }

  private long compressedLength;

  /** Parses one gzip member at {@code pos} (fixed header fields, FEXTRA allowed), checking CRC and length. */
  private Member member(byte[] blob, int pos, long tarOffset) throws IOException {
    assertTrue(pos + 18 <= blob.length, "a gzip member at " + pos);
    assertEquals(0x1f, blob[pos] & 0xff, "gzip magic at " + pos);
    assertEquals(0x8b, blob[pos + 1] & 0xff, "gzip magic at " + pos);
    assertEquals(8, blob[pos + 2], "deflate at " + pos);
    int flags = blob[pos + 3];
    assertEquals(0, flags & ~4, "no name, comment or header CRC at " + pos);
    assertEquals(0, blob[pos + 4] | blob[pos + 5] | blob[pos + 6] | blob[pos + 7], "mtime 0 at " + pos);
    int p = pos + 10;
    if ((flags & 4) != 0) {
      p += 2 + ((blob[p] & 0xff) | (blob[p + 1] & 0xff) << 8);
    }
    Inflater inf = new Inflater(true);
    inf.setInput(blob, p, blob.length - p);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[65536];
    try {
      while (!inf.finished()) {
        int n = inf.inflate(buf);
        if (n == 0 && (inf.needsInput() || inf.needsDictionary())) {
          throw new IOException("truncated gzip member at " + pos);
        }
        out.write(buf, 0, n);
      }
    } catch (DataFormatException e) {
      throw new IOException("corrupt gzip member at " + pos + ": " + e.getMessage(), e);
    }
    int end = p + (int) inf.getBytesRead();
    inf.end();
    byte[] data = out.toByteArray();
    CRC32 crc = new CRC32();
    crc.update(data);
    long storedCrc = le32(blob, end);
    long storedLen = le32(blob, end + 4);
    assertEquals(crc.getValue(), storedCrc, "CRC of the member at " + pos);
    assertEquals(data.length & 0xffffffffL, storedLen, "length of the member at " + pos);
    compressedLength = end + 8 - pos;
    return new Member(pos, tarOffset, data);
  }

  private static long le32(byte[] b, int i) {
    return (b[i] & 0xffL) | (b[i + 1] & 0xffL) << 8 | (b[i + 2] & 0xffL) << 16 | (b[i + 3] & 0xffL) << 24;
  }

  public Member memberAt(long offset) {
    for (Member m : members) {
      if (m.offset == offset) {
        return m;
      }
    }
    return null;
  }

  /** Reads and checks an eStargz blob; {@code chunkSize} is the one it was written with. */
  public static EstargzReader verify(byte[] blob, int chunkSize) throws IOException {
    EstargzReader r = new EstargzReader(blob);
    r.check(chunkSize);
    return r;
  }

  private void check(int chunkSize) {
    assertEquals(1, toc.get("version").asInt(), "TOC version");
    assertEquals(EstargzWriter.TOC_NAME, items.get(items.size() - 1).entry.name(), "the TOC is the last entry");
    String first = items.get(0).entry.name();
    boolean prefetch = items.stream().anyMatch(i -> i.entry.name().equals(EstargzWriter.PREFETCH_LANDMARK));
    if (!prefetch) {
      assertEquals(EstargzWriter.NO_PREFETCH_LANDMARK, first, "without prioritised files the tar starts with");
    }
    Map<String, byte[]> contents = new HashMap<>();
    for (Item i : items) {
      if (i.entry.isRegular()) {
        contents.put(utf8(i.entry.name()), i.content);
      }
    }
    for (String landmark : List.of(EstargzWriter.PREFETCH_LANDMARK, EstargzWriter.NO_PREFETCH_LANDMARK)) {
      if (contents.containsKey(landmark)) {
        assertArrayEquals(new byte[] {0xf}, contents.get(landmark), landmark + " holds 0x0f");
      }
    }
    // Every TOC entry but chunks matches a tar member (the TOC itself is not in the TOC), in tar order.
    List<String> tarNames = new ArrayList<>();
    items.subList(0, items.size() - 1).forEach(i -> tarNames.add(utf8(i.entry.name())));
    List<String> tocNames = new ArrayList<>();
    String lastName = null;
    long lastEnd = 0;
    Map<String, Long> seenOffsets = new TreeMap<>();
    for (JsonNode e : toc.get("entries")) {
      String type = e.get("type").asText();
      String name = e.get("name").asText();
      if (!type.equals("chunk")) {
        tocNames.add(name);
      } else {
        assertEquals(lastName, name, "a chunk follows its file");
      }
      if (!type.equals("reg") && !type.equals("chunk")) {
        assertTrue(!e.has("offset"), name + ": only data has an offset");
        continue;
      }
      if (type.equals("reg")) {
        lastName = name;
        lastEnd = 0;
      }
      byte[] content = contents.get(name);
      assertNotNull(content, "TOC entry " + name + " is a file of the tar");
      if (type.equals("reg") && content.length == 0) {
        assertEquals(Digest.sha256(new byte[0]).toString(), e.get("digest").asText());
        continue;
      }
      long chunkOffset = e.path("chunkOffset").asLong(0);
      assertEquals(lastEnd, chunkOffset, name + ": chunks are contiguous");
      long size = e.has("chunkSize") ? e.get("chunkSize").asLong() : content.length - chunkOffset;
      assertTrue(size <= chunkSize && size > 0, name + ": chunk of " + size);
      if (size < chunkSize) {
        assertTrue(!e.has("chunkSize"), name + ": the short last chunk's size is implied");
      }
      lastEnd = chunkOffset + size;
      long offset = e.get("offset").asLong();
      Member m = memberAt(offset);
      assertNotNull(m, name + "@" + chunkOffset + ": offset " + offset + " is a gzip member start");
      assertTrue(m.data.length >= size, name + ": the member holds the chunk");
      byte[] chunk = Arrays.copyOfRange(m.data, 0, (int) size);
      assertArrayEquals(Arrays.copyOfRange(content, (int) chunkOffset, (int) (chunkOffset + size)), chunk,
          name + "@" + chunkOffset + ": the member at its offset starts with the chunk");
      assertEquals(Digest.sha256(chunk).toString(), e.get("chunkDigest").asText(), name + ": chunk digest");
      if (type.equals("reg")) {
        assertEquals(Digest.sha256(content).toString(), e.get("digest").asText(), name + ": file digest");
      }
      seenOffsets.put(name + "@" + chunkOffset, offset);
    }
    assertEquals(tarNames, tocNames, "TOC entries are the tar's members in order");
  }

  /** A tar name (bytes as ISO-8859-1 chars) as the TOC JSON spells it. */
  static String utf8(String latin1) {
    return new String(latin1.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
  }

  /** The uncompressed stream's members without the eStargz metadata entries. */
  public List<Item> withoutMetadata() {
    List<Item> out = new ArrayList<>();
    for (Item i : items) {
      String n = i.entry.name();
      if (!n.equals(EstargzWriter.TOC_NAME) && !n.equals(EstargzWriter.PREFETCH_LANDMARK)
          && !n.equals(EstargzWriter.NO_PREFETCH_LANDMARK)) {
        out.add(i);
      }
    }
    return out;
  }

  /** The TOC entries by name (not chunks), for field checks. */
  public Map<String, JsonNode> tocByName() {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (JsonNode e : toc.get("entries")) {
      if (!e.get("type").asText().equals("chunk")) {
        out.put(e.get("name").asText(), e);
      }
    }
    return out;
  }

  /** The tar without the metadata entries, written again: what a gzip squash of the same image gives. */
  public byte[] tarWithoutMetadata() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (io.squashproxy.core.tar.TarWriter w = new io.squashproxy.core.tar.TarWriter(out)) {
      for (Item i : withoutMetadata()) {
        w.putEntry(i.entry);
        w.write(i.content, 0, i.content.length);
      }
    }
    return out.toByteArray();
  }
}
