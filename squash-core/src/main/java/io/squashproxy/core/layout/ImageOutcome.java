package io.squashproxy.core.layout;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.squash.SquashReport;

/**
 * What happened to one image of an archive.
 *
 * @param name the image's tags or reference name (and platform, inside a multi-platform index)
 * @param manifestDigest of the written manifest; for a docker-archive, of the Docker schema 2 manifest the
 *     image would have in a registry with its layers stored as in the archive
 * @param configDigest of the written config (the image ID docker shows); null for {@link Kind#NOT_AN_IMAGE}
 * @param report null for {@link Kind#NOT_AN_IMAGE}
 */
public record ImageOutcome(String name, Kind kind, Digest manifestDigest, Digest configDigest,
    SquashReport report) {

  public enum Kind {
    SQUASHED,
    /** One layer, or no more layers than kept: copied as it was. */
    NOTHING_TO_SQUASH,
    /** An artifact, attestation or other non-image manifest: copied as it was. */
    NOT_AN_IMAGE
  }

  public boolean squashed() {
    return kind == Kind.SQUASHED;
  }
}
