package io.squashproxy.core.layer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class EntryPathsTest {
  @ParameterizedTest(name = "''{0}'' -> ''{1}''")
  @CsvSource(value = {
      "etc/passwd|etc/passwd", "./etc/passwd|etc/passwd", "etc//passwd|etc/passwd", "etc/passwd/|etc/passwd",
      "./|''", ".|''", "''|''", "././a/./b/.|a/b", "a/b/../c|a/c", "a/..|''", "a/b/../../c|c",
      "caf\u00e9/\u00ff|caf\u00e9/\u00ff", "a/.wh..wh..opq|a/.wh..wh..opq", "...|...", "a/..b|a/..b"},
      delimiter = '|')
  void cleans(String in, String out) {
    assertEquals(out, EntryPaths.clean(in));
  }

  @ParameterizedTest
  @ValueSource(strings = {"/etc/passwd", "/", "..", "../x", "a/../../x", "./../x", "a/b/../../../x", "//x"})
  void refusesNamesOutsideTheRoot(String name) {
    assertThrows(IllegalArgumentException.class, () -> EntryPaths.clean(name));
  }

  @Test
  void parentsAndNames() {
    assertNull(EntryPaths.parent(""));
    assertEquals("", EntryPaths.parent("a"));
    assertEquals("a/b", EntryPaths.parent("a/b/c"));
    assertEquals("c", EntryPaths.baseName("a/b/c"));
    assertEquals("a", EntryPaths.baseName("a"));
    assertEquals("a", EntryPaths.child("", "a"));
    assertEquals("a/b", EntryPaths.child("a", "b"));
  }
}
