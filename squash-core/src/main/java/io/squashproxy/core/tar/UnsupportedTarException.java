package io.squashproxy.core.tar;

/**
 * A valid tar archive with a feature this project does not handle (sparse files, unknown entry types): unlike
 * its parent, the archive is not broken, so a proxy may still serve the layer as it is.
 */
public class UnsupportedTarException extends TarFormatException {
  private static final long serialVersionUID = 1L;

  public UnsupportedTarException(String message) {
    super(message);
  }
}
