package io.squashproxy.proxy.upstream;

/**
 * Upstream answered, but with content we must not use (a manifest whose bytes do not match the digest asked
 * for, one too large): a bad gateway that another attempt within the same request would not fix.
 */
public class UpstreamContentException extends UpstreamException {
  private static final long serialVersionUID = 1L;

  public UpstreamContentException(String message) {
    super(502, message, null, null);
  }
}
