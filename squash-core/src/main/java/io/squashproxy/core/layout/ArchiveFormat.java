package io.squashproxy.core.layout;

import io.squashproxy.core.layer.Compression;
import java.util.Set;

/** The offline image formats: what {@code docker save} and {@code skopeo copy} write. */
public enum ArchiveFormat {
  /** {@code docker save}: manifest.json, config JSON files and layer tars, usually uncompressed. */
  DOCKER_ARCHIVE("docker-archive", Compression.NONE),
  /** An OCI image layout directory: oci-layout, index.json, blobs/. */
  OCI_LAYOUT("oci", Compression.GZIP),
  /** A tar of an OCI image layout. */
  OCI_ARCHIVE("oci-archive", Compression.GZIP);

  private final String label;
  private final Compression defaultCompression;

  ArchiveFormat(String label, Compression defaultCompression) {
    this.label = label;
    this.defaultCompression = defaultCompression;
  }

  /** The name skopeo uses for the transport. */
  public String label() {
    return label;
  }

  /** The squashed layer's compression when none is asked for: what the format's own tools write. */
  public Compression defaultCompression() {
    return defaultCompression;
  }

  /**
   * The format of a tar from its (normalised) entry names, or null when it is neither. Docker 25+ writes
   * both manifest.json and an OCI layout; its manifest.json is what {@code docker load} reads, so the
   * docker-archive reading wins.
   */
  static ArchiveFormat ofTarNames(Set<String> names) {
    if (names.contains("manifest.json")) {
      return DOCKER_ARCHIVE;
    }
    if (names.contains(OciLayoutSquasher.OCI_LAYOUT_FILE) && names.contains(OciLayoutSquasher.INDEX_FILE)) {
      return OCI_ARCHIVE;
    }
    return null;
  }

  @Override
  public String toString() {
    return label;
  }
}
