package io.squashproxy.proxy.registry;

import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * Error codes of the OCI distribution spec ("Error Codes" table), with the status each is sent with.
 * Clients print {@code message}; some (docker) also key retries and prompts off {@code code}.
 */
public enum ErrorCode {
  /** "blob unknown to registry": the blob is not known to the registry. */
  BLOB_UNKNOWN(HttpResponseStatus.NOT_FOUND),
  /** "provided digest did not match uploaded content". */
  DIGEST_INVALID(HttpResponseStatus.BAD_REQUEST),
  /** "manifest invalid": the manifest (or what it references) failed verification. */
  MANIFEST_INVALID(HttpResponseStatus.BAD_REQUEST),
  /** "manifest unknown to registry": the named manifest is not known to the registry. */
  MANIFEST_UNKNOWN(HttpResponseStatus.NOT_FOUND),
  /** "invalid repository name": the repository name is not valid. */
  NAME_INVALID(HttpResponseStatus.BAD_REQUEST),
  /** "repository name not known to registry". */
  NAME_UNKNOWN(HttpResponseStatus.NOT_FOUND),
  /** "authentication required": the client must authenticate. */
  UNAUTHORIZED(HttpResponseStatus.UNAUTHORIZED),
  /** "requested access to the resource is denied". */
  DENIED(HttpResponseStatus.FORBIDDEN),
  /** "the operation is unsupported": a read-only proxy refuses pushes and deletes with 405. */
  UNSUPPORTED(HttpResponseStatus.METHOD_NOT_ALLOWED),
  /** "too many requests": the client (or we, upstream) hit a rate limit. */
  TOOMANYREQUESTS(HttpResponseStatus.TOO_MANY_REQUESTS),
  /**
   * Not in the spec's table, but what Distribution sends for failures of its own or of its upstream; the
   * spec lets registries add codes, and clients show the message.
   */
  UNKNOWN(HttpResponseStatus.BAD_GATEWAY);

  private final HttpResponseStatus status;

  ErrorCode(HttpResponseStatus status) {
    this.status = status;
  }

  public HttpResponseStatus status() {
    return status;
  }
}
