package io.squashproxy.proxy.service;

import io.squashproxy.core.squash.SquashOptions;

/**
 * {@code limits.maxPathsPerSquash} for the squashes this process runs: an image with more paths is passed through
 * unsquashed (the squash fails as unsupported before the heap runs out, and {@link ImageService} serves the
 * original with a WARN line naming the image, the limit and this key). Set once at startup from the config.
 */
public final class SquashPathLimit {
  /** The config key, named in the squash's error and so in the log line. */
  public static final String KEY = "limits.maxPathsPerSquash";

  private static volatile SquashOptions.PathLimit limit = SquashOptions.PathLimit.NONE;

  private SquashPathLimit() {}

  /** @param maxPaths {@code limits.maxPathsPerSquash}; {@link Long#MAX_VALUE} for none */
  public static void set(long maxPaths) {
    limit = maxPaths == Long.MAX_VALUE ? SquashOptions.PathLimit.NONE : new SquashOptions.PathLimit(maxPaths, KEY);
  }

  static SquashOptions applied(SquashOptions options) {
    return options.withPathLimit(limit);
  }
}
