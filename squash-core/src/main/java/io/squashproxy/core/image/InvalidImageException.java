package io.squashproxy.core.image;

import java.io.IOException;

/** A manifest, index or config that is not valid JSON or lacks a field the specs require. */
public class InvalidImageException extends IOException {
  private static final long serialVersionUID = 1L;

  public InvalidImageException(String message) {
    super(message);
  }

  public InvalidImageException(String message, Throwable cause) {
    super(message, cause);
  }
}
