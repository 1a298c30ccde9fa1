package io.squashproxy.core.layout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Squashes every image of an offline image archive: a docker-archive ({@code docker save}), an OCI image
 * layout directory, or an OCI archive (a tar of a layout). The output has the input's format.
 *
 * <p>The output is written under a temporary name next to it and renamed into place only when complete,
 * so a failure never leaves a partial output. Everything else temporary lives in a fresh directory inside
 * the work directory (by default next to the output, so that moving the new layers is a rename), removed
 * on success and on failure.
 */
public final class ArchiveSquasher {
  private final ArchiveListener listener;

  public ArchiveSquasher() {
    this(ArchiveListener.NONE);
  }

  public ArchiveSquasher(ArchiveListener listener) {
    this.listener = listener;
  }

  /**
   * Squashes {@code input} into {@code output}.
   *
   * @param output a file for the archive formats (replaced if it exists), a directory that does not exist or
   *     is empty for an OCI layout
   * @param workDir where temporary files go; null for a temporary directory next to {@code output}
   * @throws LayoutException for unreadable or broken input, naming the file (and entry, layer) at fault
   */
  public ArchiveResult squash(Path input, Path output, ArchiveOptions options, Path workDir) throws IOException {
    Path in = input.toAbsolutePath().normalize();
    Path out = output.toAbsolutePath().normalize();
    if (!Files.exists(in)) {
      throw new LayoutException(input + ": no such file or directory");
    }
    if (in.equals(out) || (Files.exists(out) && Files.isSameFile(in, out))) {
      throw new LayoutException(output + ": the output must not be the input");
    }
    Path parent = out.getParent();
    if (parent == null || !Files.isDirectory(parent)) {
      throw new LayoutException(output + ": directory " + parent + " does not exist");
    }
    Path work = createWorkDir(parent, workDir);
    AtomicReference<Path> pending = new AtomicReference<>();
    // Ctrl-C ends the JVM without running finally blocks; the hook removes what they would have.
    Thread cleanup = new Thread(() -> {
      deleteQuietly(pending.get());
      deleteQuietly(work);
    }, "squash-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    Path partial = null;
    try {
      ArchiveFormat format;
      List<ImageOutcome> images;
      if (Files.isDirectory(in)) {
        format = ArchiveFormat.OCI_LAYOUT;
        checkOutput(output, out, true);
        partial = reserve(parent, out, true);
        pending.set(partial);
        images = new OciLayoutSquasher(new DirectoryFiles(in), new DirectorySink(partial),
            options.forFormat(format), work, listener).run();
      } else {
        try (TarFiles files = TarFiles.open(in, work)) {
          format = ArchiveFormat.ofTarNames(files.names());
          if (format == null) {
            throw new LayoutException(input + ": neither a docker-archive (no manifest.json) nor an OCI archive"
                + " (no oci-layout and index.json)");
          }
          checkOutput(output, out, false);
          partial = reserve(parent, out, false);
          pending.set(partial);
          images = squashTar(files, format, partial, options, work);
        }
      }
      publish(partial, out);
      partial = null;
      pending.set(null);
      return new ArchiveResult(format, out, images);
    } finally {
      if (partial != null) {
        deleteQuietly(partial);
      }
      deleteQuietly(work);
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException e) {
        // the JVM is already shutting down and runs the hook
      }
    }
  }

  private List<ImageOutcome> squashTar(TarFiles files, ArchiveFormat format, Path partial, ArchiveOptions options,
      Path work) throws IOException {
    if (format == ArchiveFormat.DOCKER_ARCHIVE) {
      return new DockerArchiveSquasher(files, options.forFormat(format), work, listener).run(partial);
    }
    try (TarSink sink = new TarSink(partial)) {
      return new OciLayoutSquasher(files, sink, options.forFormat(format), work, listener).run();
    }
  }

  /**
   * A new, hidden sibling of the output to write into. Not {@link Files#createTempFile}: its owner-only
   * permissions would stay on the output after the rename.
   */
  private static Path reserve(Path parent, Path out, boolean directory) throws IOException {
    while (true) {
      Path p = parent.resolve("." + out.getFileName() + ".partial-"
          + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36));
      try {
        return directory ? Files.createDirectory(p) : Files.createFile(p);
      } catch (FileAlreadyExistsException e) {
        // taken: draw another name
      }
    }
  }

  private static Path createWorkDir(Path outParent, Path workDir) throws IOException {
    Path dir = workDir == null ? outParent : workDir;
    try {
      Files.createDirectories(dir);
      return Files.createTempDirectory(dir, workDir == null ? ".squash-work-" : "squash-work-");
    } catch (IOException e) {
      // Java's message for a denied directory is the bare path: say what we tried.
      throw new LayoutException(dir + ": cannot create a temporary work directory there ("
          + e.getClass().getSimpleName() + ": " + TarFiles.message(e) + ")", e);
    }
  }

  private static void checkOutput(Path given, Path out, boolean directory) throws IOException {
    if (!Files.exists(out)) {
      return;
    }
    if (directory) {
      if (!Files.isDirectory(out) || !isEmpty(out)) {
        throw new LayoutException(given + ": already exists (an OCI layout is written to a new or empty directory)");
      }
    } else if (Files.isDirectory(out)) {
      throw new LayoutException(given + ": is a directory, but the output is an archive file");
    }
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  /** The rename that makes the output appear whole; it replaces an existing file or empty directory. */
  private static void publish(Path partial, Path out) throws IOException {
    try {
      Files.move(partial, out, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(partial, out, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  static void deleteQuietly(Path path) {
    if (path == null || !Files.exists(path)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(path)) {
      List<Path> paths = walk.sorted(Collections.reverseOrder()).toList();
      for (Path p : paths) {
        Files.deleteIfExists(p);
      }
    } catch (IOException | UncheckedIOException e) {
      // Best effort: the error that brought us here matters more than a leftover temporary file.
    }
  }
}
