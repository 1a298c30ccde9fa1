package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;

/**
 * A manifest to send, with its digest and media type. The header values derived from the digest are
 * computed once here, not on every request that serves the manifest.
 *
 * @param stale served from cache because upstream could not be reached to revalidate the tag
 * @param digestText {@code digest.toString()}, the {@code Docker-Content-Digest} header
 * @param etag the quoted digest, the {@code ETag} header
 * @param squashPending the original document, served because its squash outlasted the rule's {@code wait}
 *     (it goes on in the background): an answer for this pull only, never remembered for the next
 */
public record ServedManifest(byte[] bytes, String mediaType, Digest digest, boolean stale, String digestText,
    String etag, boolean squashPending) {

  public ServedManifest(byte[] bytes, String mediaType, Digest digest, boolean stale) {
    this(bytes, mediaType, digest, stale, digest.toString(), "\"" + digest + "\"", false);
  }

  public ServedManifest asStale() {
    return new ServedManifest(bytes, mediaType, digest, true, digestText, etag, squashPending);
  }

  public ServedManifest asSquashPending() {
    return new ServedManifest(bytes, mediaType, digest, stale, digestText, etag, true);
  }
}
