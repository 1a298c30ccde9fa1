package io.squashproxy.proxy.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * A shared key/value object store (an S3 bucket) that several replicas read and write. Every write is
 * all-or-nothing: an object is visible only once complete, and an interrupted upload leaves nothing behind.
 * Keys are relative to the store's own prefix.
 */
public interface ObjectStore extends AutoCloseable {

  boolean exists(String key) throws IOException;

  /** The whole object; for small ones (manifests, records, tag mappings). */
  Optional<byte[]> get(String key) throws IOException;

  /** A stream over the object, which the caller closes; empty when absent. */
  Optional<InputStream> open(String key) throws IOException;

  void put(String key, byte[] bytes) throws IOException;

  /**
   * Creates the object only if no object has the key (a conditional put). Returns false when one exists.
   * A store that cannot put conditionally behaves as if it could, but racing writers may both see true:
   * callers use this to save work, never for correctness.
   */
  boolean putIfAbsent(String key, byte[] bytes) throws IOException;

  /** Whether {@link #putIfAbsent} is atomic in the store itself (else it is a check, then a put). */
  boolean conditionalPuts();

  /** Uploads a file, in parts when it is large; aborted (nothing visible) when any part fails. */
  void putFile(String key, Path file) throws IOException;

  Optional<Instant> lastModified(String key) throws IOException;

  void delete(String key) throws IOException;

  /** {@code s3://bucket/prefix}, for logs. */
  String describe();

  @Override
  void close();
}
