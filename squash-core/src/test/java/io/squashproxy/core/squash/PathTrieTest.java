package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The squash's paths: one object per path, found again by its text, names held once, subtrees walked in order. */
class PathTrieTest {
  private final PathTrie paths = new PathTrie();

  @Test
  void aPathIsOneObjectAndPrintsAsItsCleanedText() {
    PathName c = paths.intern("a/b/c");
    assertSame(c, paths.intern("a/b/c"));
    assertSame(c.parent, paths.find("a/b"));
    assertSame(paths.root(), paths.intern(""));
    assertEquals("a/b/c", c.toString());
    assertEquals("a", c.parent.parent.toString());
    assertEquals("", paths.root().toString());
    assertTrue(paths.root().isRoot());
    assertEquals(3, c.depth());
    assertSame(paths.intern("a/b/x"), paths.child(c.parent, "x"));
    assertEquals("caf\u00e9/\u00ff", paths.intern("caf\u00e9/\u00ff").toString());
  }

  @Test
  void findingAPathThatIsNotThereMakesNothing() {
    paths.intern("a/b");
    assertNull(paths.find("a/b/c"));
    assertNull(paths.find("b"));
    assertNull(paths.find("a/bb"));
    assertNull(paths.find("a/"  + "b/c/d"));
    assertEquals(2, paths.size());
  }

  @Test
  void aNameMetInManyDirectoriesIsHeldOnce() {
    PathName one = paths.intern("pkg-1/lib/index.js");
    PathName two = paths.intern("pkg-2/lib/index.js");
    assertSame(one.name, two.name);
    assertSame(one.parent.name, two.parent.name);
    assertTrue(one != two && one.parent != two.parent);
  }

  @Test
  void aDirectoryWithManyEntriesFindsEachOfThem() {
    List<PathName> made = new ArrayList<>();
    for (int i = 0; i < 20_000; i++) {
      made.add(paths.intern("big/file-" + i));
    }
    for (int i = 0; i < 20_000; i++) {
      assertSame(made.get(i), paths.find("big/file-" + i));
    }
    assertEquals(20_001, paths.size());
  }

  @Test
  void belowWalksEveryDescendantDirectoryFirstAndStopsAtTheFirstMatch() {
    for (String p : List.of("a/b/c", "a/b/d", "a/e", "a-z", "ab/x")) {
      paths.intern(p);
    }
    List<String> seen = new ArrayList<>();
    assertFalse(paths.find("a").anyBelow(p -> !seen.add(p.toString())));
    assertEquals(List.of("a/b", "a/e", "a/b/c", "a/b/d").size(), seen.size());
    assertEquals(List.of("a/b", "a/b/c", "a/b/d", "a/e"), seen.stream().sorted().toList());
    for (String p : seen) {
      for (PathName a = paths.find(p).parent; !a.isRoot(); a = a.parent) {
        assertTrue(seen.indexOf(a.toString()) < seen.indexOf(p) || a.toString().equals("a"), p);
      }
    }
    List<String> visited = new ArrayList<>();
    assertTrue(paths.find("a").anyBelow(p -> visited.add(p.toString()) && p.name.equals("b")));
    assertFalse(visited.contains("a/b/c"), "stopped at a/b");
    assertFalse(paths.find("a/e").anyBelow(p -> true), "a leaf has nothing below");
  }

  @Test
  void nodesBelowCountOnlyPathsThatHoldOne() {
    PathName c = paths.intern("a/b/c");
    PathName a = paths.find("a");
    assertFalse(a.hasNodesBelow(), "paths without nodes: an empty directory");
    c.node = new FsTree.Node(false, 0, 0, null);
    assertTrue(a.hasNodesBelow());
    assertFalse(c.hasNodesBelow());
  }
}
