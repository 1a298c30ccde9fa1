package io.squashproxy.proxy.store;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Content-addressed blobs and manifests, as the image service reads and writes them. Two forms:
 * {@link ContentStore}, the local disk (one instance; the default), and {@link TieredStorage}, a bounded
 * local disk in front of a shared {@link ObjectStore} (several replicas). Either way a blob handed out is a
 * complete, verified local file, so the registry handler serves it zero-copy and answers {@code Range}
 * from it. Writes are idempotent: the same digest always names the same bytes, so whichever writer lands
 * first wins and nothing needs a lock.
 */
public interface Storage {

  /** The blob as a local file, marking it used; empty when the store does not have it. */
  Optional<StoredBlob> blob(Digest d);

  /** Whether the store has the blob, without bringing it to local disk. */
  boolean hasBlob(Digest d);

  /**
   * Streams {@code in} into the store, verifying digest and (if not -1) size; nothing stored on mismatch.
   * Written to a work file in {@link #tmpDir()}, then {@link #adoptVerified adopted}.
   */
  default StoredBlob putBlob(Digest d, long size, InputStream in) throws IOException {
    makeRoom(Math.max(0, size), d);
    Path t = Files.createTempFile(tmpDir(), "blob-", ".tmp");
    try {
      try (OutputStream out = Files.newOutputStream(t);
          VerifyingInputStream v = new VerifyingInputStream(in, "blob " + d, d, size)) {
        v.transferTo(out);
      }
      return adoptVerified(d, t);
    } finally {
      Files.deleteIfExists(t);
    }
  }

  StoredBlob putBlob(Digest d, byte[] bytes) throws IOException;

  /** Moves a file whose digest the caller has verified into the store. */
  StoredBlob adoptVerified(Digest d, Path file) throws IOException;

  Optional<StoredManifest> manifest(Digest d) throws IOException;

  /** Stores a manifest under its digest (sha256 of the bytes), with its media type. */
  Digest putManifest(byte[] bytes, String mediaType) throws IOException;

  /**
   * Evicts from the local disk until {@code needed} bytes can be written above the free-space watermark
   * ({@code cache.minFreeSpace}), keeping {@code keep} (null: none). Blocks: not on an event loop.
   */
  default void makeRoom(long needed, Digest keep) {
    local().makeRoom(needed, keep);
  }

  /** Where work files go: on the local tier's file system, so finished files are renamed into place. */
  Path tmpDir();

  /** The local disk tier (all of the store when there is no shared one): sizes and evictions for metrics. */
  ContentStore local();
}
