package io.squashproxy.core.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarFilesTest {
  @TempDir
  Path dir;

  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** The squasher reads several layers of one archive at once: member streams must not share a position. */
  @Test
  void membersReadInterleavedKeepTheirOwnContent() throws IOException {
    byte[] a = random(300_000, 1);
    byte[] b = random(200_001, 2);
    Path archive = dir.resolve("image.tar");
    try (OutputStream f = Files.newOutputStream(archive); TarArchiveOutputStream t = new TarArchiveOutputStream(f)) {
      for (var m : new Object[][] {{"a/layer.tar", a}, {"b/layer.tar", b}}) {
        byte[] content = (byte[]) m[1];
        TarArchiveEntry e = new TarArchiveEntry((String) m[0]);
        e.setSize(content.length);
        t.putArchiveEntry(e);
        t.write(content);
        t.closeArchiveEntry();
      }
    }
    try (TarFiles files = TarFiles.open(archive, dir)) {
      ByteArrayOutputStream gotA = new ByteArrayOutputStream();
      ByteArrayOutputStream gotB = new ByteArrayOutputStream();
      try (InputStream ia = files.open("a/layer.tar"); InputStream ib = files.open("b/layer.tar")) {
        byte[] buf = new byte[1000];
        boolean moreA = true;
        boolean moreB = true;
        while (moreA || moreB) {
          if (moreA) {
            int n = ia.read(buf);
            moreA = n >= 0;
            if (moreA) {
              gotA.write(buf, 0, n);
            }
          }
          if (moreB) {
            int n = ib.read(buf, 0, 777);
            moreB = n >= 0;
            if (moreB) {
              gotB.write(buf, 0, n);
            }
          }
        }
      }
      assertArrayEquals(a, gotA.toByteArray());
      assertArrayEquals(b, gotB.toByteArray());
    }
  }
}
