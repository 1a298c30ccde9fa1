package io.squashproxy.proxy.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Files become visible only complete and durable: written under {@code tmp/}, flushed to disk, renamed into
 * place, then the directory flushed. A power loss therefore leaves either no entry or a whole one: the
 * file's bytes are on disk before its name is (a rename can reach the journal before the data it names,
 * which then reads back as zeros or a short file), and the rename is on disk before the caller publishes
 * the entry (indexes it, serves it, records it). The file is flushed with {@code fdatasync} (data and
 * size; its times are not needed), the directory with {@code fsync}.
 */
final class AtomicFiles {
  private AtomicFiles() {}

  static void moveInto(Path source, Path target) throws IOException {
    Path dir = target.getParent();
    createDirectories(dir);
    forceFile(source);
    try {
      Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      // Across file systems (a work dir elsewhere): copy into tmp beside the target, then rename.
      Path tmp = Files.createTempFile(dir, ".incoming-", ".tmp");
      try {
        Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
        forceFile(tmp);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Files.deleteIfExists(source);
      } finally {
        Files.deleteIfExists(tmp);
      }
    }
    forceDirectory(dir);
  }

  static void write(Path tmpDir, Path target, byte[] bytes) throws IOException {
    Files.createDirectories(tmpDir);
    Path tmp = Files.createTempFile(tmpDir, "write-", ".tmp");
    try {
      Files.write(tmp, bytes);
      moveInto(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Complete or absent, but not flushed: for records that only save an upstream request and whose readers
   * discard a torn file (tags). Skipping the two flushes takes a few milliseconds off every cold pull's first
   * answer; after a power loss the record is at worst gone, and asked for again.
   */
  static void writeUnsynced(Path tmpDir, Path target, byte[] bytes) throws IOException {
    Files.createDirectories(tmpDir);
    Files.createDirectories(target.getParent());
    Path tmp = Files.createTempFile(tmpDir, "write-", ".tmp");
    try {
      Files.write(tmp, bytes);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** A directory made here is flushed into its parent too, or a power loss could forget the whole subtree. */
  private static void createDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    Path parent = dir.getParent();
    if (parent != null) {
      createDirectories(parent);
    }
    Files.createDirectories(dir);
    if (parent != null) {
      forceDirectory(parent);
    }
  }

  static void forceFile(Path file) throws IOException {
    try (FileChannel c = FileChannel.open(file, StandardOpenOption.WRITE)) {
      c.force(false);
    }
  }

  static void forceDirectory(Path dir) throws IOException {
    try (FileChannel c = FileChannel.open(dir, StandardOpenOption.READ)) {
      c.force(true);
    }
  }
}
