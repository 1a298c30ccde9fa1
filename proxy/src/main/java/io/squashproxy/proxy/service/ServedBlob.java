package io.squashproxy.proxy.service;

import io.squashproxy.proxy.store.ContentStore.StoredBlob;

/**
 * A blob to send: a complete, verified file in the store, or a {@link BlobDownload} still arriving from
 * upstream (exactly one of the two is set).
 */
public record ServedBlob(StoredBlob stored, BlobDownload growing) {
  static ServedBlob of(StoredBlob stored) {
    return new ServedBlob(stored, null);
  }

  static ServedBlob of(BlobDownload growing) {
    return new ServedBlob(null, growing);
  }
}
