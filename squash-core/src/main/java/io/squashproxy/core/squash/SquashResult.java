package io.squashproxy.core.squash;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The squashed image. The new layer blob is a file in the caller's work directory that the caller now
 * owns: move it into a store, or {@link #deleteLayerFile()}. When {@code squashed} is false the source had
 * nothing to squash (one layer, or no more layers than kept) and the source documents are returned.
 *
 * @param layers the result's layer descriptors: the kept ones as they were, then the squashed one
 */
public record SquashResult(
    boolean squashed,
    byte[] manifest,
    Digest manifestDigest,
    String manifestMediaType,
    byte[] config,
    Digest configDigest,
    List<Descriptor> layers,
    Descriptor squashedLayer,
    Path squashedLayerFile,
    Digest squashedDiffId,
    SquashReport report) {

  public SquashResult {
    layers = List.copyOf(layers);
  }

  public void deleteLayerFile() throws IOException {
    if (squashedLayerFile != null) {
      Files.deleteIfExists(squashedLayerFile);
    }
  }
}
