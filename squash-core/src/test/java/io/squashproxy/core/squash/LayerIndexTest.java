package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.Test;

/**
 * The stored form of a layer index: exact round trip, made member by member as a layer streams by, the version
 * before still read, and anything damaged or misfiled is refused.
 */
class LayerIndexTest {
  private static final Digest LAYER = Digest.sha256("layer".getBytes());
  private static final LayerIndex INDEX = new LayerIndex(LAYER, Digest.sha256("tar".getBytes()), 10240, List.of(
      new LayerIndex.Member("./usr/", TarType.DIRECTORY, 0, ""),
      new LayerIndex.Member("usr/caf\u00e9\u00ff", TarType.REGULAR, 1234567890123L, ""),
      new LayerIndex.Member("usr/link", TarType.HARDLINK, 0, "usr/caf\u00e9\u00ff"),
      new LayerIndex.Member("usr/.wh..wh..opq", TarType.REGULAR, 0, "")));

  @Test
  void roundTripsExactly() throws IOException {
    assertEquals(INDEX, LayerIndex.fromBytes(INDEX.toBytes(), LAYER));
  }

  @Test
  void everyFlippedByteIsRefused() {
    byte[] good = INDEX.toBytes();
    for (int i = 0; i < good.length; i++) {
      byte[] bad = good.clone();
      bad[i] ^= 0x01;
      int at = i;
      assertThrows(IOException.class, () -> LayerIndex.fromBytes(bad, LAYER), "flipped byte " + at);
    }
  }

  @Test
  void truncatedIsRefused() {
    byte[] good = INDEX.toBytes();
    for (int n : new int[] {0, 1, 31, 32, good.length / 2, good.length - 1}) {
      assertThrows(IOException.class, () -> LayerIndex.fromBytes(Arrays.copyOf(good, n), LAYER), n + " bytes");
    }
  }

  @Test
  void anIndexFiledUnderAnotherLayerIsRefused() {
    IOException e = assertThrows(IOException.class,
        () -> LayerIndex.fromBytes(INDEX.toBytes(), Digest.sha256("other".getBytes())));
    assertEquals("layer index is for " + LAYER + ", not " + Digest.sha256("other".getBytes()), e.getMessage());
  }

  @Test
  void theWriterMakesTheStoredFormFromHeadersAsTheyStreamBy() throws IOException {
    LayerIndex.Writer w = new LayerIndex.Writer(LAYER, INDEX.diffId());
    w.add(LayerIndex.Member.of(TarEntry.of("./usr/", TarType.DIRECTORY, 0755, 0)));
    w.add(LayerIndex.Member.of(TarEntry.of("usr/caf\u00e9\u00ff", TarType.REGULAR, 0644, 1234567890123L)));
    w.add(LayerIndex.Member.of(TarEntry.of("usr/link", TarType.HARDLINK, 0644, 0).withLinkName("usr/caf\u00e9\u00ff")));
    w.add(LayerIndex.Member.of(TarEntry.of("usr/.wh..wh..opq", TarType.REGULAR, 0, 0)));
    byte[] stored = w.finish(10240);
    assertArrayEquals(INDEX.toBytes(), stored);
    assertEquals(INDEX, LayerIndex.fromBytes(stored, LAYER));
  }

  @Test
  void anIndexStoredByTheVersionBeforeIsStillRead() throws IOException {
    assertEquals(INDEX, LayerIndex.fromBytes(sealed(body(1, out -> {
      out.writeLong(INDEX.tarSize());
      out.writeInt(INDEX.members().size());
      for (LayerIndex.Member m : INDEX.members()) {
        member(out, m);
      }
    })), LAYER));
  }

  @Test
  void aMemberCountThatDisagreesIsRefusedEvenWithAGoodChecksum() {
    byte[] stored = sealed(body(2, out -> {
      for (LayerIndex.Member m : INDEX.members()) {
        out.writeByte(1);
        member(out, m);
      }
      out.writeByte(0);
      out.writeLong(INDEX.tarSize());
      out.writeInt(INDEX.members().size() + 1);
    }));
    IOException e = assertThrows(IOException.class, () -> LayerIndex.fromBytes(stored, LAYER));
    assertEquals("layer index says 5 members but holds 4", e.getMessage());
  }

  private interface Body {
    void write(DataOutputStream out) throws IOException;
  }

  /** A deflated index body of {@code version} for {@link #INDEX}, its members written by {@code members}. */
  private static byte[] body(int version, Body members) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(new DeflaterOutputStream(bytes))) {
      out.writeInt(0x53514958);
      out.writeInt(version);
      out.writeUTF(LAYER.toString());
      out.writeUTF(INDEX.diffId().toString());
      members.write(out);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return bytes.toByteArray();
  }

  private static void member(DataOutputStream out, LayerIndex.Member m) throws IOException {
    byte[] name = m.name().getBytes(StandardCharsets.ISO_8859_1);
    out.writeInt(name.length);
    out.write(name);
    out.writeByte(m.type());
    out.writeLong(m.size());
    byte[] link = m.linkName().getBytes(StandardCharsets.ISO_8859_1);
    out.writeInt(link.length);
    out.write(link);
  }

  private static byte[] sealed(byte[] body) {
    try {
      byte[] sum = MessageDigest.getInstance("SHA-256").digest(body);
      byte[] all = Arrays.copyOf(body, body.length + sum.length);
      System.arraycopy(sum, 0, all, body.length, sum.length);
      return all;
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
