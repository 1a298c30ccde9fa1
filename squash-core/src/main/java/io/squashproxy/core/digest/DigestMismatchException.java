package io.squashproxy.core.digest;

import java.io.IOException;

/** Content did not hash to the digest (or size) it was announced with. */
public class DigestMismatchException extends IOException {
  private static final long serialVersionUID = 1L;

  private final Digest expected;
  private final String actual;

  public DigestMismatchException(String what, Digest expected, String actual) {
    super(what + ": expected " + expected + " but content is " + actual);
    this.expected = expected;
    this.actual = actual;
  }

  public Digest expected() {
    return expected;
  }

  public String actual() {
    return actual;
  }
}
