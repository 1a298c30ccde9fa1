package io.squashproxy.core.squash;

import io.squashproxy.core.layer.Compression;

/**
 * How to squash.
 *
 * @param keepLayers the first N layers stay as they are; the rest become one layer (0 squashes all); ignored
 *     when {@code auto} is set
 * @param compression of the squashed layer
 * @param maxUncompressedBytes refuse images whose layers unpack to more than this (a decompression bomb
 *     guard); {@link Long#MAX_VALUE} for no limit
 * @param auto null for a fixed {@code keepLayers}; else the squash keeps every leading layer whose waste is
 *     within this slack and squashes from the first one that wastes more ({@link WasteAnalysis#autoKeep}),
 *     or leaves an image that wastes nothing as it is
 * @param paths the most tar members (paths) one squash may hold in memory; an image with more fails with an
 *     {@link SquashException#unsupported() unsupported} {@link SquashException} before the heap runs out
 * @param prioritized estargz only: paths of the image (the entrypoint, what it loads first) that the squashed
 *     layer holds first, before the prefetch landmark, with their parent directories and link targets, so
 *     stargz-snapshotter prefetches them; empty for none (then the layer has the no-prefetch landmark). Needs the
 *     two-pass squash. Paths the squashed layer does not hold are skipped.
 */
public record SquashOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto,
    PathLimit paths, java.util.List<String> prioritized) {

  /**
   * The most paths (tar members, over all layers) a squash holds; {@code setBy} names what sets it (a config key,
   * a flag) and goes into the error, so whoever reads it knows what to change.
   */
  public record PathLimit(long max, String setBy) {
    public static final PathLimit NONE = new PathLimit(Long.MAX_VALUE, "");

    public PathLimit {
      if (max < 1) {
        throw new IllegalArgumentException("the path limit must be at least 1, not " + max);
      }
    }

    /** Throws when {@code count} paths are past the limit; {@code index} and {@code layer} say where. */
    void check(long count, int index, io.squashproxy.core.image.Descriptor layer) throws SquashException {
      if (count > max) {
        throw SquashException.unsupportedInLayer(index, layer.digest(), null, "the image has more than " + max
            + " paths, the most one squash may hold" + (setBy.isEmpty() ? "" : " (" + setBy + ")"), null);
      }
    }
  }

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
    if (paths == null) {
      paths = PathLimit.NONE;
    }
    prioritized = prioritized == null ? java.util.List.of() : java.util.List.copyOf(prioritized);
    for (String p : prioritized) {
      try {
        PrioritizedEntries.clean(p);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("prioritized path '" + p + "': " + e.getMessage());
      }
    }
  }

  public SquashOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto,
      PathLimit paths) {
    this(keepLayers, compression, maxUncompressedBytes, auto, paths, java.util.List.of());
  }

  public SquashOptions(int keepLayers, Compression compression, long maxUncompressedBytes) {
    this(keepLayers, compression, maxUncompressedBytes, null);
  }

  public SquashOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto) {
    this(keepLayers, compression, maxUncompressedBytes, auto, PathLimit.NONE);
  }

  /** {@code mode: auto} with this slack. */
  public static SquashOptions auto(WasteSlack slack, Compression compression, long maxUncompressedBytes) {
    return new SquashOptions(0, compression, maxUncompressedBytes, slack);
  }

  public boolean isAuto() {
    return auto != null;
  }

  public SquashOptions withKeepLayers(int n) {
    return new SquashOptions(n, compression, maxUncompressedBytes, null, paths, prioritized);
  }

  public SquashOptions withCompression(Compression c) {
    return new SquashOptions(keepLayers, c, maxUncompressedBytes, auto, paths, prioritized);
  }

  public SquashOptions withPathLimit(PathLimit limit) {
    return new SquashOptions(keepLayers, compression, maxUncompressedBytes, auto, limit, prioritized);
  }

  /** With these {@link #prioritized} paths (estargz). */
  public SquashOptions withPrioritized(java.util.List<String> paths) {
    return new SquashOptions(keepLayers, compression, maxUncompressedBytes, auto, this.paths, paths);
  }

  /**
   * A short stable text for the options and the output format version ({@link Squasher#OUTPUT_FORMAT_VERSION}),
   * recorded in the history of the squashed image. A store of squash results keyed by it never mistakes a
   * result of an older squasher (other digests) for what this one produces. With {@code auto} it names the slack,
   * not the layers kept: those follow from the image alone, so the text is known before any layer is read.
   */
  public String describe() {
    return (auto != null ? "auto=" + auto.describe() : "keep=" + keepLayers) + " compression=" + compression
        + (prioritized.isEmpty() ? "" : " prioritized=" + String.join(",", prioritized))
        + " format=" + Squasher.OUTPUT_FORMAT_VERSION;
  }
}
