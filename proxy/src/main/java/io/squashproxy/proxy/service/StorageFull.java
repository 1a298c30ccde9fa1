package io.squashproxy.proxy.service;

import java.io.IOException;
import java.util.Locale;

/**
 * Recognises a failure to write the cache or work directory because its file system is full (ENOSPC, or a
 * quota). The JDK reports both as a plain {@link IOException} whose message is the C library's text, so the
 * text is all there is to go on.
 */
public final class StorageFull {
  private StorageFull() {}

  public static boolean causedBy(Throwable t) {
    for (Throwable e = t; e != null; e = e.getCause() == e ? null : e.getCause()) {
      if (e instanceof java.nio.file.NoSuchFileException) {
        return true; // a cache file deleted (evicted) between its lookup and its opening: the same case
      }
      if (e instanceof IOException && e.getMessage() != null) {
        String m = e.getMessage().toLowerCase(Locale.ROOT);
        // "left the cache": a layer a squash was about to read was evicted to keep cache.minFreeSpace free;
        // the squash fails as for a full disk (retry), never as a broken image.
        if (m.contains("no space left on device") || m.contains("disk quota exceeded")
            || m.endsWith("left the cache")) {
          return true;
        }
      }
    }
    return false;
  }
}
