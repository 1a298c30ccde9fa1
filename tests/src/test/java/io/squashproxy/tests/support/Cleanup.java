package io.squashproxy.tests.support;

import java.util.List;

/** Closes fixtures in order, every one even when some fail, and reports the failures together. */
public final class Cleanup {
  private Cleanup() {}

  public static void closeAll(List<? extends AutoCloseable> all) {
    Throwable first = null;
    for (AutoCloseable c : all) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Throwable t) {
        if (first == null) {
          first = t;
        } else {
          first.addSuppressed(t);
        }
      }
    }
    if (first != null) {
      throw new AssertionError("clean-up failed", first);
    }
  }
}
