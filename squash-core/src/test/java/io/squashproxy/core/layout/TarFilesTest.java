package io.squashproxy.core.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.UncheckedIOException;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
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
  void membersReadOnTwoThreadsAtOnceKeepTheirOwnContent() throws IOException {
    byte[] a = random(3_000_000, 1);
    byte[] b = random(2_000_001, 2);
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
      for (int round = 0; round < 20; round++) {
        CompletableFuture<byte[]> ra = CompletableFuture.supplyAsync(() -> readAll(files, "a/layer.tar"));
        CompletableFuture<byte[]> rb = CompletableFuture.supplyAsync(() -> readAll(files, "b/layer.tar"));
        assertArrayEquals(a, ra.join(), "round " + round);
        assertArrayEquals(b, rb.join(), "round " + round);
      }
    }
  }

  static byte[] readAll(TarFiles files, String path) {
    try (InputStream in = files.open(path)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
