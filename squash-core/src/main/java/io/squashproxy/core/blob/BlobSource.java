package io.squashproxy.core.blob;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.io.InputStream;

/**
 * Where a squash reads an image's blobs from. Implementations return the raw stored bytes; the caller
 * verifies them against the digest, so a source need not (but may) verify on its own. A squash opens and
 * reads several blobs at once on different threads: the streams must not share state (such as one file
 * position).
 */
@FunctionalInterface
public interface BlobSource {
  /** Opens the blob; throws {@link java.io.FileNotFoundException} or similar when it is absent. */
  InputStream open(Digest digest) throws IOException;
}
