package io.squashproxy.core.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

/**
 * A {@link TempDirFactory} that puts temporary directories in memory ({@code /dev/shm}) when the machine
 * has it, else in the default temp dir. A squash creates and deletes several files, and deleting files is
 * slow on some virtual disks; tests that squash hundreds of images use
 * {@code @TempDir(factory = FastTempDirs.class)}.
 */
public final class FastTempDirs implements TempDirFactory {
  private static final Path SHM = Path.of("/dev/shm");

  @Override
  public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext extension) throws IOException {
    if (Files.isDirectory(SHM) && Files.isWritable(SHM)) {
      try {
        return Files.createTempDirectory(SHM, "squash-test-");
      } catch (IOException e) {
        // fall through to the default location
      }
    }
    return Files.createTempDirectory("squash-test-");
  }
}
