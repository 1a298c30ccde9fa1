package io.squashproxy.core.layer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class WhiteoutsTest {
  @Test
  void classifiesNames() {
    assertTrue(Whiteouts.isWhiteout(".wh.foo"));
    assertTrue(Whiteouts.isWhiteout(".wh..hidden"));
    assertFalse(Whiteouts.isWhiteout(".wh..wh..opq"));
    assertFalse(Whiteouts.isWhiteout(".wh..wh.plnk"));
    assertFalse(Whiteouts.isWhiteout("foo.wh.bar"));
    assertFalse(Whiteouts.isWhiteout(".whfoo"));
    assertTrue(Whiteouts.isOpaque(".wh..wh..opq"));
    assertFalse(Whiteouts.isOpaque(".wh..wh..opq2"));
    assertTrue(Whiteouts.isMeta(".wh..wh.plnk"));
    assertTrue(Whiteouts.isMeta(".wh..wh.aufs"));
    assertFalse(Whiteouts.isMeta(".wh..wh..opq"));
    assertFalse(Whiteouts.isMeta(".wh.foo"));
  }

  @Test
  void namesForPaths() {
    assertEquals("foo", Whiteouts.deletedName(".wh.foo"));
    assertEquals(".hidden", Whiteouts.deletedName(".wh..hidden"));
    assertEquals(".wh.foo", Whiteouts.whiteoutFor("foo"));
    assertEquals("a/b/.wh.c", Whiteouts.whiteoutFor("a/b/c"));
    assertEquals(".wh..wh..opq", Whiteouts.opaqueFor(""));
    assertEquals("a/b/.wh..wh..opq", Whiteouts.opaqueFor("a/b"));
  }
}
