package io.squashproxy.core.layout;

import java.nio.file.Path;
import java.util.List;

/** The outcome of squashing an archive: its format, where the result went, and each image. */
public record ArchiveResult(ArchiveFormat format, Path output, List<ImageOutcome> images) {

  public ArchiveResult {
    images = List.copyOf(images);
  }
}
