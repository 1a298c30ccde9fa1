package io.squashproxy.core.image;

/**
 * A valid manifest that does not describe a container image (a Helm chart, a signature, an artifact, a
 * schema 1 manifest): there is nothing to squash, and callers pass it through unchanged.
 */
public class NotAnImageException extends InvalidImageException {
  private static final long serialVersionUID = 1L;

  public NotAnImageException(String message) {
    super(message);
  }
}
