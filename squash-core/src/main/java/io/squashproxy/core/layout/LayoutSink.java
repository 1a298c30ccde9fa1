package io.squashproxy.core.layout;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;

/** Where an OCI layout is written: a directory, or straight into a tar for an OCI archive. */
interface LayoutSink extends Closeable {

  boolean hasBlob(Digest digest);

  void putBlob(Digest digest, byte[] content) throws IOException;

  /** Copies a blob, reading {@code content} to its end so that its verification runs. */
  void copyBlob(Digest digest, long size, VerifyingInputStream content) throws IOException;

  /** Takes a blob file the squash wrote into the work directory; the file is gone afterwards. */
  void moveBlob(Digest digest, long size, Path file) throws IOException;

  /** A top-level file: oci-layout or index.json. */
  void putFile(String name, byte[] content) throws IOException;
}
