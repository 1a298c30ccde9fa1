package io.squashproxy.proxy.server;

import io.netty.handler.codec.http.HttpResponseStatus;
import io.squashproxy.core.digest.DigestMismatchException;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Turns whatever went wrong into the spec's error, without leaking internals (or credentials). */
final class ErrorMapping {
  private static final Logger LOG = LoggerFactory.getLogger(ErrorMapping.class);

  private ErrorMapping() {}

  static RegistryException toRegistryError(Throwable t) {
    Throwable e = t;
    while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof RegistryException r) {
      return r;
    }
    if (e instanceof UpstreamException u) {
      int s = u.status();
      if (s == 401 || s == 403) {
        return new RegistryException(ErrorCode.DENIED, HttpResponseStatus.FORBIDDEN,
            "upstream denied access: " + u.getMessage(), null, u);
      }
      if (s == 429) {
        return new RegistryException(ErrorCode.TOOMANYREQUESTS, HttpResponseStatus.TOO_MANY_REQUESTS,
            "upstream rate limit: " + u.getMessage(),
            u.retryAfter() == null ? null : Map.of("retryAfter", u.retryAfter()), u);
      }
      HttpResponseStatus status = s == 0 ? HttpResponseStatus.SERVICE_UNAVAILABLE : HttpResponseStatus.BAD_GATEWAY;
      return new RegistryException(ErrorCode.UNKNOWN, status, u.getMessage(), null, u);
    }
    if (e instanceof DigestMismatchException d) {
      return new RegistryException(ErrorCode.UNKNOWN, HttpResponseStatus.BAD_GATEWAY,
          "upstream sent content that does not match its digest: " + d.getMessage(), null, d);
    }
    if (io.squashproxy.proxy.service.StorageFull.causedBy(e)) {
      // 500 like any storage failure of a registry; the message tells the operator what to do.
      LOG.warn("request failed, the cache storage is full: {}", e.toString());
      return new RegistryException(ErrorCode.UNKNOWN, HttpResponseStatus.INTERNAL_SERVER_ERROR,
          "the proxy's cache storage is full (no space left on device); nothing partial was kept, try again "
              + "later (operators: free space, or lower cache.maxSize below the disk size)",
          null, e);
    }
    if (e instanceof java.io.IOException) {
      LOG.warn("request failed: {}", e.toString());
      return new RegistryException(ErrorCode.UNKNOWN, HttpResponseStatus.INTERNAL_SERVER_ERROR,
          "internal error: " + e.getMessage(), null, e);
    }
    LOG.error("unexpected failure", e);
    return new RegistryException(ErrorCode.UNKNOWN, HttpResponseStatus.INTERNAL_SERVER_ERROR,
        "internal error", null, e);
  }
}
