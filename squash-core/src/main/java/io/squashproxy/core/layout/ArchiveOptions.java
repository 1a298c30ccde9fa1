package io.squashproxy.core.layout;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashOptions;

/**
 * How to squash an archive.
 *
 * @param keepLayers the first N layers of each image stay as they are
 * @param compression of the squashed layers, or null for the format's default ({@link
 *     ArchiveFormat#defaultCompression()})
 * @param maxUncompressedBytes per image, see {@link SquashOptions#maxUncompressedBytes()}
 */
public record ArchiveOptions(int keepLayers, Compression compression, long maxUncompressedBytes) {

  public static final ArchiveOptions DEFAULT = new ArchiveOptions(0, null, Long.MAX_VALUE);

  public ArchiveOptions {
    // Fail here, not halfway through an archive.
    new SquashOptions(keepLayers, Compression.NONE, maxUncompressedBytes);
  }

  public ArchiveOptions withKeepLayers(int n) {
    return new ArchiveOptions(n, compression, maxUncompressedBytes);
  }

  public ArchiveOptions withCompression(Compression c) {
    return new ArchiveOptions(keepLayers, c, maxUncompressedBytes);
  }

  SquashOptions forFormat(ArchiveFormat format) {
    return new SquashOptions(keepLayers, compression == null ? format.defaultCompression() : compression,
        maxUncompressedBytes);
  }
}
