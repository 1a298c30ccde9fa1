package io.squashproxy.core.testing;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The reference applier's own rules, so tests built on it compare against something right. */
class RefFsTest {
  @Test
  void refusesWhatExtractorsRefuse() {
    assertThrows(IllegalStateException.class, () -> RefFs.of(List.of(layer().file("/abs", "x").tar())));
    assertThrows(IllegalStateException.class, () -> RefFs.of(List.of(layer().file("a/../../x", "x").tar())));
    assertThrows(IllegalStateException.class, () -> RefFs.of(List.of(layer().file("f", "x").file("f/g", "y").tar())));
    assertThrows(IllegalStateException.class, () -> RefFs.of(List.of(layer().hardlinkRaw("h", "missing").tar())));
    assertThrows(IllegalStateException.class, () -> RefFs.of(List.of(layer().dir("d").hardlinkRaw("h", "d").tar())));
  }

  @Test
  void viewTellsMetadataAndLinkGroups() {
    RefFs fs = RefFs.of(List.of(layer().file("a", "x").mode(0600).hardlink("b", "a").tar(),
        layer().file("c", "x").mode(0600).tar()));
    RefFs.View v = fs.view();
    assertEquals(Set.of("a = b"), v.linkGroups());
    assertEquals(v.paths().get("a"), v.paths().get("c"), "same metadata and content");
    RefFs other = RefFs.of(List.of(layer().file("a", "x").mode(0600).file("b", "x").mode(0600)
        .file("c", "x").mode(0600).tar()));
    assertEquals(v.paths(), other.view().paths());
    assertNotEquals(v, other.view(), "link structure differs");
    assertFalse(v.diff(other.view()).isEmpty());
  }

  @Test
  void aKeptInodeNamedInALaterLayerIsOneGroupWhateverIsKept() {
    RefFs fs = RefFs.of(List.of(layer().file("a", "x").tar(),
        layer().hardlink("b", "a").hardlink("c", "a").tar()));
    assertEquals(Set.of("a = b = c"), fs.view().linkGroups());
    assertEquals(Set.of("a = b = c"), fs.view(1).linkGroups());
  }

  @Test
  void binaryXattrsAreComparedByteForByte() {
    byte[] one = {(byte) 0xff, 0, 1};
    byte[] two = {(byte) 0xff, 0, 2};
    RefFs a = RefFs.of(List.of(layer().file("f", "x").xattr("security.capability", one).tar()));
    RefFs b = RefFs.of(List.of(layer().file("f", "x").xattr("security.capability", two).tar()));
    assertEquals("0xff0001", a.meta("f").xattrs().get("security.capability"));
    assertNotEquals(a.view(), b.view());
  }

  @Test
  void implicitDirectories() {
    RefFs fs = RefFs.of(List.of(layer().file("a/b/c", "x").tar()));
    assertTrue(fs.isDir("a/b"));
    assertTrue(fs.exists("a"));
    assertEquals("dir (implicit)", fs.view().paths().get("a/b"));
    assertEquals(List.of("", "a", "a/b"), fs.dirs());
  }
}
