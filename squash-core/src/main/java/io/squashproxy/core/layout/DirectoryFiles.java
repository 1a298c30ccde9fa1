package io.squashproxy.core.layout;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** The files of an OCI layout directory. */
final class DirectoryFiles implements ArchiveFiles {
  private final Path root;

  DirectoryFiles(Path root) {
    this.root = root;
  }

  @Override
  public boolean exists(String path) {
    Path p = resolve(path);
    return p != null && Files.isRegularFile(p);
  }

  @Override
  public InputStream open(String path) throws IOException {
    Path p = resolve(path);
    if (p == null) {
      throw new LayoutException(describe(path) + ": path leaves the layout directory");
    }
    try {
      return new BufferedInputStream(Files.newInputStream(p), 1 << 16);
    } catch (NoSuchFileException e) {
      throw new LayoutException(describe(path) + ": no such file");
    }
  }

  @Override
  public String describe(String path) {
    return root.resolve(path).toString();
  }

  @Override
  public String describe() {
    return root.toString();
  }

  private Path resolve(String path) {
    String clean = ArchiveFiles.normalize(path);
    return clean == null || clean.isEmpty() ? null : root.resolve(clean);
  }

  @Override
  public void close() {
    // nothing held open
  }
}
