package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A short temp directory under /tmp, or under {@code $SQUASH_TEST_TMP} when set (daemon socket paths must fit
 * in 108 bytes), removed with everything in it, including mounts a tool left behind under it.
 */
public final class Scratch implements AutoCloseable {

  private final Path root;

  private Scratch(Path root) {
    this.root = root;
  }

  public static Scratch create(String prefix) {
    String base = System.getenv("SQUASH_TEST_TMP");
    try {
      Path parent = Path.of(base == null || base.isBlank() ? "/tmp" : base);
      Files.createDirectories(parent);
      return new Scratch(Files.createTempDirectory(parent, "sq-" + prefix + "-").toRealPath());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public Path path() {
    return root;
  }

  public Path resolve(String name) {
    return root.resolve(name);
  }

  /** A new empty subdirectory. */
  public Path dir(String name) {
    try {
      return Files.createDirectories(root.resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    delete(root);
  }

  /** Unmounts anything below {@code dir}, then deletes it recursively; a missing dir is fine. */
  public static void delete(Path dir) {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    unmountBelow(dir);
    try {
      Files.walkFileTree(dir, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          Files.deleteIfExists(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
          if (exc instanceof NoSuchFileException) {
            return FileVisitResult.CONTINUE;
          }
          throw exc;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
          Files.deleteIfExists(d);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      // A last resort that copes with odd permissions; failing to clean up fails the test.
      Proc.of("rm", "-rf", "--one-file-system", dir.toString()).timeout(Duration.ofMinutes(2)).ok();
    }
  }

  /** Mount points at or below {@code dir}, deepest first. */
  public static List<Path> mountsBelow(Path dir) {
    List<Path> found = new ArrayList<>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
        String[] f = line.split(" ");
        if (f.length > 4) {
          Path mp = Path.of(unescape(f[4]));
          if (mp.startsWith(dir)) {
            found.add(mp);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    found.sort(Comparator.comparingInt(Path::getNameCount).reversed());
    return found;
  }

  private static void unmountBelow(Path dir) {
    for (Path mp : mountsBelow(dir)) {
      Proc.Result r = Proc.of("umount", mp.toString()).timeout(Duration.ofSeconds(30)).run();
      if (r.exitCode() != 0) {
        Proc.of("umount", "-l", mp.toString()).timeout(Duration.ofSeconds(30)).run();
      }
    }
  }

  private static String unescape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        try {
          b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
          i += 3;
          continue;
        } catch (NumberFormatException e) {
          // not an escape
        }
      }
      b.append(c);
    }
    return b.toString();
  }

  /** Bytes used by a directory tree (apparent sizes of regular files). */
  public static long du(Path dir) {
    long[] sum = {0};
    try {
      Files.walkFileTree(dir, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
          if (attrs.isRegularFile()) {
            sum[0] += attrs.size();
          }
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return sum[0];
  }
}
