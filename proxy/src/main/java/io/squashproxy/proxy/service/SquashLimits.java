package io.squashproxy.proxy.service;

import io.squashproxy.core.squash.SquashOptions;

/**
 * What one squash may take, from the config's {@code limits} section: images past either limit are served as
 * they are (original manifest, a WARN line naming the image, the limit and its key), never squashed until the
 * heap or the work directory runs out.
 *
 * @param maxUncompressedBytes {@code limits.maxImageSize}: the image's declared uncompressed size
 * @param paths {@code limits.maxPathsPerSquash}: tar members over all layers, which the squash holds in memory
 */
public record SquashLimits(long maxUncompressedBytes, SquashOptions.PathLimit paths) {
  /** The config key of the path limit, named in the squash's error and so in the log line. */
  public static final String MAX_PATHS_KEY = "limits.maxPathsPerSquash";

  public SquashLimits {
    if (paths == null) {
      throw new IllegalArgumentException("paths must not be null (PathLimit.NONE for none)");
    }
  }

  /** Only the size limit (tests and tools that do not bound paths). */
  public static SquashLimits ofSize(long maxUncompressedBytes) {
    return new SquashLimits(maxUncompressedBytes, SquashOptions.PathLimit.NONE);
  }

  /** @param maxPaths {@code limits.maxPathsPerSquash}; {@link Long#MAX_VALUE} for none */
  public static SquashLimits of(long maxUncompressedBytes, long maxPaths) {
    return new SquashLimits(maxUncompressedBytes, maxPaths == Long.MAX_VALUE ? SquashOptions.PathLimit.NONE
        : new SquashOptions.PathLimit(maxPaths, MAX_PATHS_KEY));
  }

  SquashOptions applyTo(SquashOptions options) {
    return options.withPathLimit(paths);
  }
}
