package io.squashproxy.core.squash;

import io.squashproxy.core.layer.Compression;

/**
 * How to squash.
 *
 * @param keepLayers the first N layers stay as they are; the rest become one layer (0 squashes all)
 * @param compression of the squashed layer
 * @param maxUncompressedBytes refuse images whose layers unpack to more than this (a decompression bomb
 *     guard); {@link Long#MAX_VALUE} for no limit
 */
public record SquashOptions(int keepLayers, Compression compression, long maxUncompressedBytes) {

  public static final SquashOptions DEFAULT = new SquashOptions(0, Compression.GZIP, Long.MAX_VALUE);

  public SquashOptions {
    if (keepLayers < 0) {
      throw new IllegalArgumentException("keepLayers must be >= 0");
    }
    if (compression == null) {
      throw new IllegalArgumentException("compression is required");
    }
    if (maxUncompressedBytes <= 0) {
      throw new IllegalArgumentException("maxUncompressedBytes must be > 0");
    }
  }

  public SquashOptions withKeepLayers(int n) {
    return new SquashOptions(n, compression, maxUncompressedBytes);
  }

  public SquashOptions withCompression(Compression c) {
    return new SquashOptions(keepLayers, c, maxUncompressedBytes);
  }

  /**
   * A short stable text for the options and the output format version ({@link Squasher#OUTPUT_FORMAT_VERSION}),
   * recorded in the history of the squashed image. A store of squash results keyed by it never mistakes a
   * result of an older squasher (other digests) for what this one produces.
   */
  public String describe() {
    return "keep=" + keepLayers + " compression=" + compression + " format=" + Squasher.OUTPUT_FORMAT_VERSION;
  }
}
