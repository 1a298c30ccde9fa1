package io.squashproxy.proxy.upstream;

import java.io.IOException;

/** Upstream answered with an error status (or could not be reached: status 0). */
public class UpstreamException extends IOException {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String retryAfter;

  public UpstreamException(int status, String message, String retryAfter, Throwable cause) {
    super(message, cause);
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** The HTTP status, or 0 when upstream was not reached. */
  public int status() {
    return status;
  }

  public String retryAfter() {
    return retryAfter;
  }

  public boolean unreachable() {
    return status == 0 || status >= 500;
  }
}
