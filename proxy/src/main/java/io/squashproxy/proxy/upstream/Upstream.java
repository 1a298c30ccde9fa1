package io.squashproxy.proxy.upstream;

import io.squashproxy.core.digest.Digest;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Optional;

/**
 * A remote registry, as the proxy needs it: raw manifests (byte-exact, so digests hold), manifest HEADs
 * (which Docker Hub does not count against pull limits), blob streams and tag lists. Implementations block;
 * callers keep them off event loops. Absent content is an empty Optional; every other failure is an
 * {@link UpstreamException} or an {@link IOException}.
 */
public interface Upstream extends Closeable {

  /** Every manifest type we understand; upstreams are always asked with all of them. */
  List<String> MANIFEST_ACCEPT = List.of(
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
      "application/vnd.docker.distribution.manifest.v1+json");

  /** The configured name, which keys this upstream's cache entries. */
  String name();

  Optional<RawManifest> manifest(String repository, String reference) throws IOException;

  Optional<ManifestHead> headManifest(String repository, String reference) throws IOException;

  /** Opens a blob; the caller closes the stream and verifies the digest. */
  Optional<BlobStream> blob(String repository, Digest digest) throws IOException;

  /** One page of {@code GET /v2/<name>/tags/list} as upstream sent it, with its {@code Link} header. */
  Optional<TagPage> tags(String repository, Integer n, String last) throws IOException;

  /**
   * {@code GET /v2/<name>/referrers/<digest>} (OCI distribution spec 1.1) as upstream answered it, with
   * {@code artifactType} passed on when not null. Empty when upstream answers 404: the spec's sign of a
   * registry without the referrers API, whose clients fall back to the referrers tag schema. This default is
   * such a registry.
   */
  default Optional<ReferrersPage> referrers(String repository, Digest subject, String artifactType)
      throws IOException {
    return Optional.empty();
  }

  /** A manifest exactly as upstream sent it. */
  record RawManifest(byte[] bytes, String mediaType, Digest digest) {}

  record ManifestHead(Digest digest, String mediaType, long size) {}

  record BlobStream(InputStream body, long size) implements Closeable {
    @Override
    public void close() throws IOException {
      body.close();
    }
  }

  record TagPage(byte[] body, String link) {}

  /** A referrers answer: an image index, and its {@code Link} header for the next page (or null). */
  record ReferrersPage(byte[] body, String link) {}
}
