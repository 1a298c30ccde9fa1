package io.squashproxy.core.squash;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;

/**
 * A squash failed because of its input. The message names the layer (index and digest) and, where there
 * is one, the tar entry, so a user can find the culprit with {@code tar tvf}.
 */
public class SquashException extends IOException {
  private static final long serialVersionUID = 1L;

  private final transient Digest layer;
  private final String entry;

  public SquashException(String message, Digest layer, String entry, Throwable cause) {
    super(message, cause);
    this.layer = layer;
    this.entry = entry;
  }

  /** The failing layer: its index in the manifest, digest and (when known) entry. */
  public static SquashException inLayer(int index, Digest layer, String entry, String problem, Throwable cause) {
    String where = "layer " + index + " (" + layer + ")" + (entry == null ? "" : ", entry '" + entry + "'");
    return new SquashException(where + ": " + problem, layer, entry, cause);
  }

  public Digest layer() {
    return layer;
  }

  public String entry() {
    return entry;
  }
}
