package io.squashproxy.core.tar;

import java.io.IOException;

/** The bytes are not a tar archive this project accepts. */
public class TarFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public TarFormatException(String message) {
    super(message);
  }
}
