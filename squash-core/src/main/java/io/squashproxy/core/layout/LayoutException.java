package io.squashproxy.core.layout;

import java.io.IOException;

/**
 * An image archive or layout cannot be read or written. The message starts with the file (and, inside a
 * tar, the entry) at fault, so it can be shown to a user as it is.
 */
public class LayoutException extends IOException {
  private static final long serialVersionUID = 1L;

  public LayoutException(String message) {
    super(message);
  }

  public LayoutException(String message, Throwable cause) {
    super(message, cause);
  }
}
