package io.squashproxy.core.squash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import org.junit.jupiter.api.Test;

/** What the one pass remembers of a layer's files for hard links later in the layer. */
class LayerFilesTest {
  private final PathTrie paths = new PathTrie();
  private final LayerFiles files = new LayerFiles();

  @Test
  void aFileIsRememberedWithItsNameHeaderAndSource() {
    PathName a = paths.intern("bin/a");
    TarEntry header = TarEntry.of("bin/a", TarType.REGULAR, 0755, 3);
    files.put(a, new LayerFiles.File(a, header, FsTree.position(2, 7)));
    LayerFiles.File got = files.get(a);
    assertSame(a, got.name());
    assertEquals(header.withName(""), got.header());
    assertEquals(FsTree.position(2, 7), got.position());
  }

  @Test
  void aLinkSharesTheFileOfItsTargetUnderTheTargetsName() {
    PathName a = paths.intern("bin/a");
    PathName b = paths.intern("bin/b");
    files.put(a, new LayerFiles.File(a, TarEntry.of("bin/a", TarType.REGULAR, 0755, 3), 5));
    files.put(b, files.get(a));
    assertSame(a, files.get(b).name());
    assertEquals(5, files.get(b).position());
  }

  @Test
  void hiddenAbsentAndRemovedAreToldApart() {
    PathName a = paths.intern("a");
    PathName b = paths.intern("b");
    assertNull(files.get(a));
    files.put(a, LayerFiles.HIDDEN);
    assertSame(LayerFiles.HIDDEN, files.get(a));
    files.put(b, new LayerFiles.File(b, TarEntry.of("b", TarType.REGULAR, 0644, 0), 1));
    files.remove(b);
    assertNull(files.get(b));
    files.remove(paths.intern("never"));
    assertNull(files.get(paths.find("never")));
  }

  @Test
  void filesWithTheSameMetadataShareOneHeader() {
    for (int i = 0; i < 5000; i++) {
      PathName p = paths.intern("lib/f" + i);
      files.put(p, new LayerFiles.File(p, TarEntry.of("lib/f" + i, TarType.REGULAR, 0644, 0), i));
    }
    assertSame(files.get(paths.find("lib/f1")).header(), files.get(paths.find("lib/f4999")).header());
    assertEquals(4999, files.get(paths.find("lib/f4999")).position());
  }
}
