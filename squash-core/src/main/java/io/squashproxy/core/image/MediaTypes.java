package io.squashproxy.core.image;

import java.util.Set;

/** Media types from the OCI image spec and Docker's image manifest v2 schema 2. */
public final class MediaTypes {
  public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
  public static final String DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
  public static final String DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
  public static final String DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";
  public static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
  public static final String DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  public static final String DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
  public static final String DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

  public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  public static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
  public static final String OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
  public static final String OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
  public static final String OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
  public static final String OCI_LAYER_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar";
  public static final String OCI_LAYER_NONDIST_GZIP =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  public static final String OCI_LAYER_NONDIST_ZSTD =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
  public static final String OCI_EMPTY = "application/vnd.oci.empty.v1+json";

  private static final Set<String> LAYERS = Set.of(DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, OCI_LAYER_TAR,
      OCI_LAYER_GZIP, OCI_LAYER_ZSTD);
  private static final Set<String> NON_DISTRIBUTABLE = Set.of(DOCKER_LAYER_FOREIGN, OCI_LAYER_NONDIST_TAR,
      OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD);

  private MediaTypes() {}

  public static boolean isIndex(String mediaType) {
    return DOCKER_MANIFEST_LIST.equals(mediaType) || OCI_INDEX.equals(mediaType);
  }

  public static boolean isImageConfig(String mediaType) {
    return DOCKER_CONFIG.equals(mediaType) || OCI_CONFIG.equals(mediaType);
  }

  /** A layer the squash can read: a (possibly compressed) tar changeset. */
  public static boolean isSquashableLayer(String mediaType) {
    return LAYERS.contains(mediaType);
  }

  /** Foreign or non-distributable layers: clients fetch them elsewhere, so they cannot be merged. */
  public static boolean isNonDistributable(String mediaType) {
    return NON_DISTRIBUTABLE.contains(mediaType);
  }
}
