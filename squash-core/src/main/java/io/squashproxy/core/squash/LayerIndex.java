package io.squashproxy.core.squash;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.InflaterInputStream;

/**
 * What one verified layer holds, without its content: every tar member's raw name, type, size and hard link
 * target, in archive order, and the tar's size. Enough to apply the layer to an {@link FsTree} exactly as
 * reading the tar would (same rules, same errors), so that deciding what is wasted, and keeping a layer in a
 * partial squash, never re-reads or re-inflates a layer indexed before. Keyed by the layer's blob digest,
 * which fixes its bytes; the diff_id it was verified against is part of it.
 *
 * <p>{@link #toBytes()} is a deflated binary form ending in a SHA-256 of what precedes it; {@link
 * #fromBytes} refuses anything that does not check out, so a damaged index is rebuilt, never trusted. A {@link
 * Writer} makes that form member by member, without the objects (issue #14: a layer of a million paths).
 */
public record LayerIndex(Digest layer, Digest diffId, long tarSize, List<Member> members) {
  private static final int MAGIC = 0x53514958; // "SQIX"
  /** 2: members first, then the tar size and the count, so that a layer is indexed as it streams by. */
  private static final int VERSION = 2;
  /** Version 1 (tar size and count before the members) is still read: indexes a proxy kept before. */
  private static final int VERSION_1 = 1;

  /** One tar member's header as the merge rules need it; {@code name} and {@code linkName} as in the tar. */
  public record Member(String name, byte type, long size, String linkName) {
    static Member of(TarEntry e) {
      return new Member(e.name(), e.type(), e.size(), e.isHardlink() ? e.linkName() : "");
    }

    /** A header for {@link Squasher#apply}: the fields the merge rules read. */
    TarEntry asEntry() {
      return new TarEntry(name, type, 0, 0, 0, size, 0, linkName, "", "", 0, 0, null);
    }

    /** Bytes of file content this member adds to the tar (regular files only; a hard link adds none). */
    long contentBytes() {
      return TarType.isRegular(type) ? size : 0;
    }
  }

  public LayerIndex {
    members = List.copyOf(members);
  }

  public byte[] toBytes() {
    Writer out = new Writer(layer, diffId);
    members.forEach(out::add);
    return out.finish(tarSize);
  }

  /** Writes the stored form ({@link #toBytes()}) of a layer's index as its members are read. */
  public static final class Writer {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream(4096);
    private final DataOutputStream out = new DataOutputStream(new DeflaterOutputStream(bytes));
    private int count;

    public Writer(Digest layer, Digest diffId) {
      try {
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeUTF(layer.toString());
        out.writeUTF(diffId.toString());
      } catch (IOException e) {
        throw new UncheckedIOException(e); // in memory: cannot happen
      }
    }

    /** Adds the next member. */
    public void add(Member m) {
      try {
        out.writeByte(1);
        writeBytes(out, m.name);
        out.writeByte(m.type);
        out.writeLong(m.size);
        writeBytes(out, m.linkName);
        count++;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** The stored form, with the layer's tar size; the writer is done. */
    public byte[] finish(long tarSize) {
      try {
        out.writeByte(0);
        out.writeLong(tarSize);
        out.writeInt(count);
        out.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      byte[] body = bytes.toByteArray();
      byte[] sum = sha256(body, body.length);
      byte[] all = Arrays.copyOf(body, body.length + sum.length);
      System.arraycopy(sum, 0, all, body.length, sum.length);
      return all;
    }
  }

  /**
   * Reads what {@link #toBytes()} wrote for {@code layer}.
   *
   * @throws IOException when the bytes are damaged, of another version, or for another layer
   */
  public static LayerIndex fromBytes(byte[] all, Digest layer) throws IOException {
    if (all.length < 32) {
      throw new IOException("layer index too short");
    }
    int bodyLength = all.length - 32;
    if (!MessageDigest.isEqual(sha256(all, bodyLength), Arrays.copyOfRange(all, bodyLength, all.length))) {
      throw new IOException("layer index checksum mismatch");
    }
    try (DataInputStream in = new DataInputStream(new InflaterInputStream(
        new ByteArrayInputStream(all, 0, bodyLength)))) {
      int version = in.readInt() == MAGIC ? in.readInt() : -1;
      if (version != VERSION && version != VERSION_1) {
        throw new IOException("not a layer index of this version");
      }
      Digest indexed = Digest.parse(in.readUTF());
      if (!indexed.equals(layer)) {
        throw new IOException("layer index is for " + indexed + ", not " + layer);
      }
      Digest diffId = Digest.parse(in.readUTF());
      List<Member> members = new ArrayList<>();
      long tarSize;
      int count;
      if (version == VERSION_1) {
        tarSize = in.readLong();
        count = in.readInt();
        if (count < 0) {
          throw new IOException("layer index has a negative member count");
        }
        for (int i = 0; i < count; i++) {
          members.add(readMember(in));
        }
      } else {
        for (int more; (more = in.readByte()) != 0; ) {
          if (more != 1) {
            throw new IOException("layer index is malformed: member marker " + more);
          }
          members.add(readMember(in));
        }
        tarSize = in.readLong();
        count = in.readInt();
        if (count != members.size()) {
          throw new IOException("layer index says " + count + " members but holds " + members.size());
        }
      }
      return new LayerIndex(indexed, diffId, tarSize, members);
    } catch (EOFException | IllegalArgumentException e) {
      throw new IOException("layer index is truncated or malformed: " + e.getMessage(), e);
    }
  }

  private static Member readMember(DataInputStream in) throws IOException {
    return new Member(readBytes(in), in.readByte(), in.readLong(), readBytes(in));
  }

  /** Names are byte strings (one char per byte, see {@link TarEntry}): written as such, not as UTF-8. */
  private static void writeBytes(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
    out.writeInt(b.length);
    out.write(b);
  }

  private static String readBytes(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0 || n > (1 << 20)) {
      throw new IOException("layer index has a name of " + n + " bytes");
    }
    byte[] b = new byte[n];
    in.readFully(b);
    return new String(b, StandardCharsets.ISO_8859_1);
  }

  private static byte[] sha256(byte[] b, int length) {
    MessageDigest md = Digest.newMessageDigest(Digest.SHA256);
    md.update(b, 0, length);
    return md.digest();
  }
}
