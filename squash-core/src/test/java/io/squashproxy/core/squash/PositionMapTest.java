package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The plan's position map agrees with a HashMap on random positions of many layers, through its growth. */
class PositionMapTest {

  @Test
  void agreesWithAHashMapThroughGrowth() {
    PositionMap<String> map = new PositionMap<>();
    Map<Long, String> reference = new HashMap<>();
    Random random = new Random(7);
    for (int i = 0; i < 50_000; i++) {
      long position = FsTree.position(random.nextInt(40), random.nextInt(5_000));
      String value = "v" + i;
      assertEquals(reference.put(position, value), map.put(position, value));
    }
    assertEquals(reference.size(), map.size());
    reference.forEach((k, v) -> assertEquals(v, map.get(k)));
    assertNull(map.get(FsTree.position(41, 0)));
    Map<Long, String> seen = new HashMap<>();
    map.forEach(seen::put);
    assertEquals(reference, seen);
  }

  @Test
  void refusesNegativePositionsAndNullValues() {
    PositionMap<String> map = new PositionMap<>();
    assertThrows(IllegalArgumentException.class, () -> map.put(-1, "x"));
    assertThrows(IllegalArgumentException.class, () -> map.put(0, null));
  }
}
