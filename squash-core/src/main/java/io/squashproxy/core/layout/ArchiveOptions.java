package io.squashproxy.core.layout;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.WasteSlack;

/**
 * How to squash an archive.
 *
 * @param keepLayers the first N layers of each image stay as they are
 * @param compression of the squashed layers, or null for the format's default ({@link
 *     ArchiveFormat#defaultCompression()})
 * @param maxUncompressedBytes per image, see {@link SquashOptions#maxUncompressedBytes()}
 * @param auto null for a fixed {@code keepLayers}; else each image keeps the layers that waste no more than
 *     this ({@link SquashOptions#auto()})
 * @param paths per image, see {@link SquashOptions#paths()}
 * @param prioritized per image, see {@link SquashOptions#prioritized()} (estargz)
 */
public record ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto,
    SquashOptions.PathLimit paths, java.util.List<String> prioritized) {

  public static final ArchiveOptions DEFAULT = new ArchiveOptions(0, null, Long.MAX_VALUE);

  public ArchiveOptions {
    // Fail here, not halfway through an archive.
    new SquashOptions(keepLayers, Compression.NONE, maxUncompressedBytes, auto, null, prioritized);
    paths = paths == null ? SquashOptions.PathLimit.NONE : paths;
    prioritized = prioritized == null ? java.util.List.of() : java.util.List.copyOf(prioritized);
  }

  public ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto,
      SquashOptions.PathLimit paths) {
    this(keepLayers, compression, maxUncompressedBytes, auto, paths, java.util.List.of());
  }

  public ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto) {
    this(keepLayers, compression, maxUncompressedBytes, auto, SquashOptions.PathLimit.NONE);
  }

  public ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes) {
    this(keepLayers, compression, maxUncompressedBytes, null);
  }

  public ArchiveOptions withKeepLayers(int n) {
    return new ArchiveOptions(n, compression, maxUncompressedBytes, null, paths, prioritized);
  }

  public ArchiveOptions withCompression(Compression c) {
    return new ArchiveOptions(keepLayers, c, maxUncompressedBytes, auto, paths, prioritized);
  }

  /** {@code auto} with this slack instead of a fixed number of kept layers. */
  public ArchiveOptions withAuto(WasteSlack slack) {
    return new ArchiveOptions(0, compression, maxUncompressedBytes, slack, paths, prioritized);
  }

  /** At most {@code limit} paths per image ({@link SquashOptions#paths()}). */
  public ArchiveOptions withPathLimit(SquashOptions.PathLimit limit) {
    return new ArchiveOptions(keepLayers, compression, maxUncompressedBytes, auto, limit, prioritized);
  }

  /** These paths first in each squashed layer ({@link SquashOptions#prioritized()}, estargz). */
  public ArchiveOptions withPrioritized(java.util.List<String> files) {
    return new ArchiveOptions(keepLayers, compression, maxUncompressedBytes, auto, paths, files);
  }

  SquashOptions forFormat(ArchiveFormat format) {
    return new SquashOptions(keepLayers, compression == null ? format.defaultCompression() : compression,
        maxUncompressedBytes, auto, paths, prioritized);
  }
}
