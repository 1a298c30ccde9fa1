package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;

/**
 * A manifest to send, with its digest and media type.
 *
 * @param stale served from cache because upstream could not be reached to revalidate the tag
 */
public record ServedManifest(byte[] bytes, String mediaType, Digest digest, boolean stale) {
  public ServedManifest asStale() {
    return new ServedManifest(bytes, mediaType, digest, true);
  }
}
