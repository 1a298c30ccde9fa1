package io.squashproxy.proxy.store;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Files become visible only complete: written under {@code tmp/}, then renamed into place. */
final class AtomicFiles {
  private AtomicFiles() {}

  static void moveInto(Path source, Path target) throws IOException {
    Files.createDirectories(target.getParent());
    try {
      Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      // Across file systems (a work dir elsewhere): copy into tmp beside the target, then rename.
      Path tmp = Files.createTempFile(target.getParent(), ".incoming-", ".tmp");
      try {
        Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Files.deleteIfExists(source);
      } finally {
        Files.deleteIfExists(tmp);
      }
    }
  }

  static void write(Path tmpDir, Path target, byte[] bytes) throws IOException {
    Files.createDirectories(tmpDir);
    Path tmp = Files.createTempFile(tmpDir, "write-", ".tmp");
    try {
      Files.write(tmp, bytes);
      moveInto(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
