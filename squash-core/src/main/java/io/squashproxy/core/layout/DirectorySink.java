package io.squashproxy.core.layout;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/** Writes an OCI layout into a directory (the caller's temporary one, renamed when complete). */
final class DirectorySink implements LayoutSink {
  private final Path root;

  DirectorySink(Path root) {
    this.root = root;
  }

  @Override
  public boolean hasBlob(Digest digest) {
    return Files.exists(blob(digest));
  }

  @Override
  public void putBlob(Digest digest, byte[] content) throws IOException {
    Files.write(prepare(digest), content);
  }

  @Override
  public void copyBlob(Digest digest, long size, VerifyingInputStream content) throws IOException {
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(prepare(digest)), 1 << 16)) {
      content.transferTo(out);
    }
  }

  @Override
  public void moveBlob(Digest digest, long size, Path file) throws IOException {
    Path target = prepare(digest);
    Files.move(file, target, StandardCopyOption.REPLACE_EXISTING);
    // The squash created the file owner-only, as temporary files are; a blob is as readable as the rest.
    if (Files.getFileStore(target).supportsFileAttributeView(PosixFileAttributeView.class)) {
      Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
    }
  }

  @Override
  public void putFile(String name, byte[] content) throws IOException {
    Files.write(root.resolve(name), content);
  }

  private Path prepare(Digest digest) throws IOException {
    Path p = blob(digest);
    Files.createDirectories(p.getParent());
    return p;
  }

  private Path blob(Digest digest) {
    return root.resolve(Blobs.path(digest));
  }

  @Override
  public void close() {
    // every file is closed as it is written
  }
}
