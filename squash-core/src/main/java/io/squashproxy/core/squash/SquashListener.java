package io.squashproxy.core.squash;

import io.squashproxy.core.image.Descriptor;

/** Progress of a squash, for logs and progress bars. Called on the squashing thread. */
public interface SquashListener {
  SquashListener NONE = new SquashListener() {};

  /** A source layer was read and verified ({@code index} of {@code total}). */
  default void layerRead(int index, int total, Descriptor layer, long uncompressedBytes) {}

  /** Output of the squashed layer progressed: {@code layer} of {@code total} source layers written. */
  default void layerWritten(int index, int total, long outputBytes) {}
}
