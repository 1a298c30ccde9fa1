package io.squashproxy.core.layout;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Writes an OCI layout straight into a tar (an OCI archive), members in the order they are put, so the
 * layout never exists on disk twice. Blobs come first, oci-layout and index.json last, once known.
 */
final class TarSink implements LayoutSink {
  private final DeterministicTarWriter tar;
  private final Set<String> written = new HashSet<>();

  TarSink(Path file) throws IOException {
    tar = new DeterministicTarWriter(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16));
  }

  @Override
  public boolean hasBlob(Digest digest) {
    return written.contains(Blobs.path(digest));
  }

  @Override
  public void putBlob(Digest digest, byte[] content) throws IOException {
    directories(digest);
    tar.file(Blobs.path(digest), content);
    written.add(Blobs.path(digest));
  }

  @Override
  public void copyBlob(Digest digest, long size, VerifyingInputStream content) throws IOException {
    directories(digest);
    tar.file(Blobs.path(digest), size, content);
    content.drainAndVerify();
    written.add(Blobs.path(digest));
  }

  @Override
  public void moveBlob(Digest digest, long size, Path file) throws IOException {
    directories(digest);
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
      tar.file(Blobs.path(digest), size, in);
    }
    Files.delete(file);
    written.add(Blobs.path(digest));
  }

  @Override
  public void putFile(String name, byte[] content) throws IOException {
    tar.file(name, content);
  }

  private void directories(Digest digest) throws IOException {
    if (written.add("blobs/")) {
      tar.directory("blobs/");
    }
    String dir = "blobs/" + digest.algorithm() + "/";
    if (written.add(dir)) {
      tar.directory(dir);
    }
  }

  @Override
  public void close() throws IOException {
    tar.close();
  }
}
