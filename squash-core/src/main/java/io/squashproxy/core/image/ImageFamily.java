package io.squashproxy.core.image;

/** Docker schema 2 or OCI: a squashed image keeps its source's family, so clients see familiar types. */
public enum ImageFamily {
  DOCKER(MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_CONFIG),
  OCI(MediaTypes.OCI_MANIFEST, MediaTypes.OCI_CONFIG);

  private final String manifestMediaType;
  private final String configMediaType;

  ImageFamily(String manifestMediaType, String configMediaType) {
    this.manifestMediaType = manifestMediaType;
    this.configMediaType = configMediaType;
  }

  public String manifestMediaType() {
    return manifestMediaType;
  }

  public String configMediaType() {
    return configMediaType;
  }

  /**
   * The media type of a layer in this family. Docker schema 2 has no zstd type; Docker 23+, containerd
   * and podman accept the OCI zstd type inside a Docker manifest, as moby itself writes it.
   */
  public String layerMediaType(io.squashproxy.core.layer.Compression.Algorithm algorithm) {
    return switch (algorithm) {
      case GZIP, ESTARGZ -> this == DOCKER ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
      case ZSTD -> MediaTypes.OCI_LAYER_ZSTD;
      case NONE -> this == DOCKER ? MediaTypes.DOCKER_LAYER_TAR : MediaTypes.OCI_LAYER_TAR;
    };
  }
}
