package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.squash.SquashException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import org.junit.jupiter.api.Test;

/**
 * A squash that fails because the cache lost a layer under it (evicted to keep cache.minFreeSpace free) counts
 * as storage trouble, so the pull fails for a retry instead of the image being refused (and the refusal
 * remembered) as broken.
 */
class StorageFullTest {
  private static final Digest LAYER = Digest.sha256(new byte[] {1});

  private static SquashException unreadable(IOException cause) {
    return SquashException.inLayer(1, LAYER, null, "unreadable layer (truncated or corrupt?): " + cause.getMessage(),
        cause);
  }

  @Test
  void aLayerEvictedUnderASquashIsStorageTroubleNotABrokenImage() {
    assertTrue(StorageFull.causedBy(unreadable(new IOException("blob " + LAYER + " left the cache"))));
    assertTrue(StorageFull.causedBy(unreadable(new NoSuchFileException("/cache/blobs/sha256/" + LAYER.hex()))));
    assertTrue(StorageFull.causedBy(unreadable(new IOException("No space left on device"))));
    assertFalse(StorageFull.causedBy(unreadable(new java.util.zip.ZipException("invalid stored block lengths"))));
    assertFalse(StorageFull.causedBy(unreadable(new java.io.EOFException("Unexpected end of ZLIB input stream"))));
  }
}
