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
 */
public record ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto,
    SquashOptions.PathLimit paths) {

  public static final ArchiveOptions DEFAULT = new ArchiveOptions(0, null, Long.MAX_VALUE);

  public ArchiveOptions {
    // Fail here, not halfway through an archive.
    new SquashOptions(keepLayers, Compression.NONE, maxUncompressedBytes, auto);
    paths = paths == null ? SquashOptions.PathLimit.NONE : paths;
  }

  public ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes, WasteSlack auto) {
    this(keepLayers, compression, maxUncompressedBytes, auto, SquashOptions.PathLimit.NONE);
  }

  public ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes) {
    this(keepLayers, compression, maxUncompressedBytes, null);
  }

  public ArchiveOptions withKeepLayers(int n) {
    return new ArchiveOptions(n, compression, maxUncompressedBytes, null, paths);
  }

  public ArchiveOptions withCompression(Compression c) {
    return new ArchiveOptions(keepLayers, c, maxUncompressedBytes, auto, paths);
  }

  /** {@code auto} with this slack instead of a fixed number of kept layers. */
  public ArchiveOptions withAuto(WasteSlack slack) {
    return new ArchiveOptions(0, compression, maxUncompressedBytes, slack, paths);
  }

  /** At most {@code limit} paths per image ({@link SquashOptions#paths()}). */
  public ArchiveOptions withPathLimit(SquashOptions.PathLimit limit) {
    return new ArchiveOptions(keepLayers, compression, maxUncompressedBytes, auto, limit);
  }

  SquashOptions forFormat(ArchiveFormat format) {
    return new SquashOptions(keepLayers, compression == null ? format.defaultCompression() : compression,
        maxUncompressedBytes, auto, paths);
  }
}
