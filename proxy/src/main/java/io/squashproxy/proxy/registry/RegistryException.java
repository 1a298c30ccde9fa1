package io.squashproxy.proxy.registry;

import io.netty.handler.codec.http.HttpResponseStatus;

/** A failure to send to the client as an OCI error envelope. */
public class RegistryException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;
  private final HttpResponseStatus status;
  private final transient Object detail;

  public RegistryException(ErrorCode code, String message) {
    this(code, code.status(), message, null, null);
  }

  public RegistryException(ErrorCode code, HttpResponseStatus status, String message, Object detail,
      Throwable cause) {
    super(message, cause);
    this.code = code;
    this.status = status;
    this.detail = detail;
  }

  public ErrorCode code() {
    return code;
  }

  public HttpResponseStatus status() {
    return status;
  }

  public Object detail() {
    return detail;
  }
}
