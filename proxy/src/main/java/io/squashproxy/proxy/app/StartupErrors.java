package io.squashproxy.proxy.app;

import java.io.IOException;
import java.net.BindException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Start-up failures as a person can act on them: what could not be used, its address or path, the key (and
 * flag) that sets it, and why in plain words, instead of a library's text (Netty's native transport says
 * {@code bind(..) failed with error(-98): Address already in use}).
 */
final class StartupErrors {
  private StartupErrors() {}

  /** A listener that could not bind, e.g. "the registry listener cannot listen on ...". */
  static IOException listener(String which, String address, String setBy, Throwable cause) {
    return new IOException("the " + which + " listener cannot listen on " + address + " (set by " + setBy + "): "
        + reason(cause, null), cause);
  }

  /** A file or directory the configuration names that cannot be used. */
  static IOException path(String what, Path path, String setBy, Throwable cause) {
    return new IOException("cannot use the " + what + " " + path + " (set by " + setBy + "): "
        + reason(cause, path), cause);
  }

  /** Why, as a sentence fragment: the OS's reason without the library's wrapping. */
  static String reason(Throwable e, Path named) {
    if (e instanceof NoSuchFileException n) {
      return on(n, "no such file or directory", named);
    }
    if (e instanceof AccessDeniedException a) {
      return on(a, "permission denied", named);
    }
    if (e instanceof NotDirectoryException n) {
      return on(n, "not a directory", named);
    }
    if (e instanceof FileAlreadyExistsException f) {
      return on(f, "exists and is not a directory", named);
    }
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return on(f, lowerFirst(f.getReason()), named);
    }
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    if (e instanceof BindException || m.startsWith("bind(")) {
      // Netty's native text: "bind(..) failed with error(-98): Address already in use".
      int colon = m.lastIndexOf("): ");
      return lowerFirst(colon < 0 ? m : m.substring(colon + 3));
    }
    return lowerFirst(m); // the OS's own words ("Is a directory") inside our sentence
  }

  /** The reason, after the file it is about when that is not the one the message names already. */
  private static String on(FileSystemException e, String reason, Path named) {
    return e.getFile() == null || named != null && Path.of(e.getFile()).equals(named) ? reason
        : e.getFile() + ": " + reason;
  }

  private static String lowerFirst(String s) {
    return s.isEmpty() ? s : s.substring(0, 1).toLowerCase(Locale.ROOT) + s.substring(1);
  }
}
