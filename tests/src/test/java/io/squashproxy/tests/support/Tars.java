package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Helpers around real tar tools. */
public final class Tars {

  private Tars() {}

  /**
   * Unpacks a plain tar with GNU tar as root, keeping owners (numeric), modes, mtimes, devices, hard links and
   * all xattrs; {@code dest} is created and must not exist.
   */
  public static void extractWithGnuTar(Path tar, Path dest) {
    try {
      Files.createDirectory(dest);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Proc.of("tar", "--extract", "--file", tar.toString(), "--directory", dest.toString(), "--numeric-owner",
        "--same-owner", "--same-permissions", "--xattrs", "--xattrs-include=*", "--delay-directory-restore")
        .timeout(Duration.ofMinutes(5)).ok();
  }
}
