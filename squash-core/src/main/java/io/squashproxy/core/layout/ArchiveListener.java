package io.squashproxy.core.layout;

import io.squashproxy.core.squash.SquashListener;

/** Progress of an archive squash: images, and within each the Squasher's layer events. */
public interface ArchiveListener extends SquashListener {
  ArchiveListener NONE = new ArchiveListener() {};

  default void imageStarted(String name) {}

  default void imageFinished(ImageOutcome outcome) {}
}
