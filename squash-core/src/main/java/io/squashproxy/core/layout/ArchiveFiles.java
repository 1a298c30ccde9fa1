package io.squashproxy.core.layout;

import io.squashproxy.core.layer.EntryPaths;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/**
 * Read access to the files of an image archive by their path inside it, the same whether the archive is a
 * directory or a tar, so each format is read by one piece of code.
 */
interface ArchiveFiles extends Closeable {

  /** True when {@code path} names a regular file (after following links inside a tar). */
  boolean exists(String path) throws IOException;

  /** Opens a file; a missing file is a {@link LayoutException} naming it. */
  InputStream open(String path) throws IOException;

  /** Names the file for a user: the archive and the path inside it. */
  String describe(String path);

  /** Names the archive itself. */
  String describe();

  /**
   * The canonical form of a path inside an archive, or null when it climbs out of it. A leading "/" is
   * taken as the archive's root, as tar itself does when extracting.
   */
  static String normalize(String path) {
    String p = path;
    while (p.startsWith("/")) {
      p = p.substring(1);
    }
    try {
      return EntryPaths.clean(p);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }
}
