package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.tar.TarType;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The stored form of a layer index: exact round trip, and anything damaged or misfiled is refused. */
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
}
