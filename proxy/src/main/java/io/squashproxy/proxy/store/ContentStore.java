package io.squashproxy.proxy.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.function.LongUnaryOperator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local store: content-addressed blobs and manifests on disk under one directory.
 *
 * <pre>
 *   blobs/sha256/&lt;hex&gt;           layer and config blobs (squashed and passed through)
 *   manifests/sha256/&lt;hex&gt;       manifests and indexes, with &lt;hex&gt;.type holding the media type
 *   tmp/                          files being written; emptied at start
 * </pre>
 *
 * Every file is written under {@code tmp/}, verified, then renamed into place, so a crash never leaves a
 * partial blob where a reader could find it. Blobs are weighed in a Caffeine cache with the configured cap;
 * an evicted blob's file is deleted. The index is rebuilt from disk at start.
 *
 * <p>Besides the cap, a free-space watermark ({@code cache.minFreeSpace}): before a write of known size and
 * after every write, when the file system has less free than the watermark, the least recently used blobs
 * are evicted until it has (never the blob being written). Eviction runs on the writing thread, not on an
 * event loop, and a blob being served when it is evicted is served to the end (its open file outlives the
 * name).
 */
public final class ContentStore implements Storage {
  private static final Logger LOG = LoggerFactory.getLogger(ContentStore.class);

  private final Path root;
  private final Path tmp;
  private final Cache<Digest, Long> blobIndex;
  /** Hot manifests decoded in memory: every pull reads one or two, and they are small. */
  private final Cache<Digest, StoredManifest> manifests;
  private volatile boolean ready;
  private final java.util.concurrent.atomic.LongAdder evictions = new java.util.concurrent.atomic.LongAdder();
  /** Told of each blob the cap evicts (what is kept about it elsewhere, such as its layer index, goes too). */
  private volatile java.util.function.Consumer<Digest> onEvicted = d -> { };
  private final java.util.concurrent.atomic.LongAdder pressureEvictions =
      new java.util.concurrent.atomic.LongAdder();
  private final FileStore fileStore;
  /** Bytes to keep free on the file system; 0: no watermark. */
  private final long minFreeBytes;
  private final Object pressure = new Object();

  public ContentStore(Path root, long maxBytes, Executor executor) throws IOException {
    this(root, maxBytes, 10_000, executor);
  }

  /** @param memoryEntries how many manifests to keep in memory besides on disk */
  public ContentStore(Path root, long maxBytes, int memoryEntries, Executor executor) throws IOException {
    this(root, maxBytes, memoryEntries, total -> 0, executor);
  }

  /**
   * @param minFree the bytes to keep free on the cache's file system, given its total size (0: no
   *     watermark, only {@code maxBytes})
   */
  public ContentStore(Path root, long maxBytes, int memoryEntries, LongUnaryOperator minFree, Executor executor)
      throws IOException {
    this.root = root;
    this.manifests = Caffeine.newBuilder().maximumSize(Math.max(0, memoryEntries)).executor(executor).build();
    this.tmp = root.resolve("tmp");
    Files.createDirectories(root.resolve("blobs"));
    Files.createDirectories(root.resolve("manifests"));
    Files.createDirectories(tmp);
    this.blobIndex = Caffeine.newBuilder()
        .maximumWeight(Math.max(1, maxBytes / 1024))
        .weigher((Digest d, Long size) -> (int) Math.min(Integer.MAX_VALUE, Math.max(1, size / 1024)))
        .executor(executor)
        .removalListener((Digest d, Long size, RemovalCause cause) -> {
          if (cause.wasEvicted() && d != null) {
            evictions.increment();
            deleteQuietly(blobPath(d));
            onEvicted.accept(d);
          }
        })
        .build();
    this.fileStore = Files.getFileStore(root);
    this.minFreeBytes = Math.max(0, minFree.applyAsLong(fileStore.getTotalSpace()));
  }

  /** Removes leftovers of interrupted writes and loads the index of what is on disk. */
  public void open() throws IOException {
    try (Stream<Path> leftovers = Files.list(tmp)) {
      for (Path p : leftovers.toList()) {
        deleteRecursively(p);
      }
    }
    Path blobs = root.resolve("blobs");
    try (Stream<Path> files = Files.walk(blobs, 2)) {
      // Oldest first, so the most recently used are the last the cap evicts.
      List<Path> list = files.filter(Files::isRegularFile)
          .sorted(Comparator.comparingLong(ContentStore::lastModified)).toList();
      for (Path p : list) {
        String alg = p.getParent().getFileName().toString();
        try {
          Digest d = new Digest(alg, p.getFileName().toString());
          blobIndex.put(d, Files.size(p));
        } catch (IllegalArgumentException e) {
          LOG.warn("ignoring a stray file in the cache: {}", p);
        }
      }
    }
    ready = true;
  }

  public boolean ready() {
    return ready;
  }

  @Override
  public Path tmpDir() {
    return tmp;
  }

  @Override
  public ContentStore local() {
    return this;
  }

  public Path root() {
    return root;
  }

  public Path blobPath(Digest d) {
    return root.resolve("blobs").resolve(d.algorithm()).resolve(d.hex());
  }

  private Path manifestPath(Digest d) {
    return root.resolve("manifests").resolve(d.algorithm()).resolve(d.hex());
  }

  /** The blob's file and size, marking it used; empty when absent. */
  @Override
  public Optional<StoredBlob> blob(Digest d) {
    Long size = blobIndex.getIfPresent(d);
    Path p = blobPath(d);
    if (size == null || !Files.isRegularFile(p)) {
      if (size != null) {
        blobIndex.invalidate(d);
      }
      return Optional.empty();
    }
    return Optional.of(new StoredBlob(d, p, size));
  }

  @Override
  public boolean hasBlob(Digest d) {
    return blob(d).isPresent();
  }

  /** Moves a file whose digest the caller has verified into the store. */
  @Override
  public StoredBlob adoptVerified(Digest d, Path file) throws IOException {
    Path target = blobPath(d);
    long size = Files.size(file);
    AtomicFiles.moveInto(file, target);
    blobIndex.put(d, size);
    makeRoom(0, d);
    return new StoredBlob(d, target, size);
  }

  /** The watermark in bytes (0: none). */
  public long minFreeBytes() {
    return minFreeBytes;
  }

  /** Free bytes on the cache's file system (for unprivileged writers), or -1 when it cannot say. */
  public long freeBytes() {
    try {
      return fileStore.getUsableSpace();
    } catch (IOException e) {
      return -1;
    }
  }

  public long pressureEvictions() {
    return pressureEvictions.sum();
  }

  /**
   * Evicts least recently used blobs (never {@code keep}) until {@code needed} more bytes can be written
   * with the watermark still free. One thread evicts at a time; the others find the room made.
   */
  @Override
  public void makeRoom(long needed, Digest keep) {
    if (minFreeBytes == 0 || deficit(needed) <= 0) {
      return;
    }
    synchronized (pressure) {
      long deficit = deficit(needed);
      long freed = 0;
      var eviction = blobIndex.policy().eviction().orElseThrow();
      while (freed < deficit) {
        List<java.util.Map.Entry<Digest, Long>> batch = eviction.coldest(256).entrySet().stream()
            .filter(e -> !e.getKey().equals(keep)).toList();
        if (batch.isEmpty()) {
          break;
        }
        for (var e : batch) {
          if (freed >= deficit) {
            break;
          }
          // Removed first, so no reader is handed the blob from here on; EXPLICIT: the listener leaves it.
          if (blobIndex.asMap().remove(e.getKey(), e.getValue())) {
            deleteQuietly(blobPath(e.getKey()));
            onEvicted.accept(e.getKey());
            freed += e.getValue();
            evictions.increment();
            pressureEvictions.increment();
          }
        }
      }
      if (freed > 0) {
        LOG.info("free space below cache.minFreeSpace ({} bytes): evicted {} bytes of blobs, {} bytes free now",
            minFreeBytes, freed, freeBytes());
      }
    }
  }

  private long deficit(long needed) {
    long free = freeBytes();
    return free < 0 ? 0 : minFreeBytes + needed - free;
  }

  @Override
  public StoredBlob putBlob(Digest d, byte[] bytes) throws IOException {
    Digest actual = Digest.of(d.algorithm(), d.newMessageDigest().digest(bytes));
    if (!actual.equals(d)) {
      throw new IOException("blob content has digest " + actual + ", not " + d);
    }
    Path target = blobPath(d);
    makeRoom(bytes.length, d);
    AtomicFiles.write(tmp, target, bytes);
    blobIndex.put(d, (long) bytes.length);
    return new StoredBlob(d, target, bytes.length);
  }

  @Override
  public Optional<StoredManifest> manifest(Digest d) throws IOException {
    StoredManifest hot = manifests.getIfPresent(d);
    if (hot != null) {
      return Optional.of(hot);
    }
    Path p = manifestPath(d);
    try {
      byte[] bytes = Files.readAllBytes(p);
      String type = Files.readString(typePath(p), StandardCharsets.UTF_8).trim();
      StoredManifest m = new StoredManifest(d, bytes, type);
      manifests.put(d, m);
      return Optional.of(m);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /** Stores a manifest under its digest (sha256 of the bytes), with its media type. */
  @Override
  public Digest putManifest(byte[] bytes, String mediaType) throws IOException {
    Digest d = Digest.sha256(bytes);
    Path p = manifestPath(d);
    makeRoom(bytes.length, null);
    AtomicFiles.write(tmp, typePath(p), mediaType.getBytes(StandardCharsets.UTF_8));
    AtomicFiles.write(tmp, p, bytes); // the content last: it is what makes the entry visible
    manifests.put(d, new StoredManifest(d, bytes, mediaType));
    return d;
  }

  /** Sets who is told of evicted blobs. */
  public void onEvicted(java.util.function.Consumer<Digest> listener) {
    this.onEvicted = listener;
  }

  public long evictions() {
    return evictions.sum();
  }

  /** Total bytes of blobs in the index. */
  public long blobBytes() {
    return blobIndex.asMap().values().stream().mapToLong(Long::longValue).sum();
  }

  public long blobCount() {
    return blobIndex.estimatedSize();
  }

  /** Runs pending evictions now (tests, and before reporting sizes). */
  public void cleanUp() {
    blobIndex.cleanUp();
  }

  private static Path typePath(Path manifest) {
    return manifest.resolveSibling(manifest.getFileName() + ".type");
  }

  private static long lastModified(Path p) {
    try {
      return Files.getLastModifiedTime(p).toMillis();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteQuietly(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      LOG.warn("could not delete evicted blob {}: {}", p, e.getMessage());
    }
  }

  static void deleteRecursively(Path p) throws IOException {
    if (Files.isDirectory(p)) {
      try (Stream<Path> s = Files.walk(p)) {
        for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(q);
        }
      }
    } else {
      Files.deleteIfExists(p);
    }
  }

  public record StoredBlob(Digest digest, Path path, long size) {}

  public record StoredManifest(Digest digest, byte[] bytes, String mediaType) {}
}
