package io.squashproxy.core.squash;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;

/**
 * A squash failed because of its input. The message names the layer (index and digest) and, where there
 * is one, the tar entry, so a user can find the culprit with {@code tar tvf}.
 *
 * <p>{@link #unsupported()} tells the two kinds apart: a broken image (corrupt or truncated compression, a
 * digest, size or diff_id mismatch, a tar header that fails its checksum, names escaping the root) that no
 * client can use, and a valid image that is beyond what the squash does (a media type it does not merge,
 * sparse files, the uncompressed size limit), which a proxy may still serve unsquashed.
 */
public class SquashException extends IOException {
  private static final long serialVersionUID = 1L;

  private final transient Digest layer;
  private final String entry;
  private final boolean unsupported;

  public SquashException(String message, Digest layer, String entry, Throwable cause) {
    this(message, layer, entry, cause, false);
  }

  private SquashException(String message, Digest layer, String entry, Throwable cause, boolean unsupported) {
    super(message, cause);
    this.layer = layer;
    this.entry = entry;
    this.unsupported = unsupported;
  }

  /** The failing layer: its index in the manifest, digest and (when known) entry. */
  public static SquashException inLayer(int index, Digest layer, String entry, String problem, Throwable cause) {
    return new SquashException(where(index, layer, entry) + ": " + problem, layer, entry, cause, false);
  }

  /** As {@link #inLayer}, for a valid layer the squash does not handle (see {@link #unsupported()}). */
  public static SquashException unsupportedInLayer(int index, Digest layer, String entry, String problem,
      Throwable cause) {
    return new SquashException(where(index, layer, entry) + ": " + problem, layer, entry, cause, true);
  }

  private static String where(int index, Digest layer, String entry) {
    return "layer " + index + " (" + layer + ")" + (entry == null ? "" : ", entry '" + entry + "'");
  }

  public Digest layer() {
    return layer;
  }

  public String entry() {
    return entry;
  }

  /** True when the image is valid but not something the squash handles; false when the input is broken. */
  public boolean unsupported() {
    return unsupported;
  }
}
