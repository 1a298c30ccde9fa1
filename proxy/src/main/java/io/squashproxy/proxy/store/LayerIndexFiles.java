package io.squashproxy.proxy.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.squash.LayerIndex;
import io.squashproxy.core.squash.LayerIndexStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Layer indexes on disk, {@code indexes/sha256/<layer hex>}, so that a base shared by many cached images is read
 * once, not once per image, and stays known across restarts. Bounded by their own total size (least recently
 * used go first) and dropped with their layer when the cache evicts it. An index that does not check out
 * ({@link LayerIndex#fromBytes}) is deleted and reported absent: the squash then reads the layer and writes a new
 * one. Written under the store's {@code tmp/} and renamed into place, so a crash never leaves half an index.
 */
public final class LayerIndexFiles implements LayerIndexStore {
  private static final Logger LOG = LoggerFactory.getLogger(LayerIndexFiles.class);

  private final Path dir;
  private final Path tmp;
  private final Cache<Digest, Long> sizes;
  private final java.util.concurrent.atomic.LongAdder hits = new java.util.concurrent.atomic.LongAdder();
  private final java.util.concurrent.atomic.LongAdder misses = new java.util.concurrent.atomic.LongAdder();

  /** @param maxBytes total size of the index files kept */
  public LayerIndexFiles(Path root, Path tmp, long maxBytes, Executor executor) throws IOException {
    this.dir = root.resolve("indexes");
    this.tmp = tmp;
    Files.createDirectories(dir);
    this.sizes = Caffeine.newBuilder()
        .maximumWeight(Math.max(1, maxBytes / 1024))
        .weigher((Digest d, Long size) -> (int) Math.min(Integer.MAX_VALUE, Math.max(1, size / 1024)))
        .executor(executor)
        .removalListener((Digest d, Long size, RemovalCause cause) -> {
          if (cause.wasEvicted() && d != null) {
            delete(d);
          }
        })
        .build();
  }

  /** Loads what is on disk (oldest first, so the newest are the last the bound evicts). */
  public LayerIndexFiles open() throws IOException {
    try (Stream<Path> files = Files.walk(dir, 2)) {
      List<Path> list = files.filter(Files::isRegularFile)
          .sorted(Comparator.comparingLong(LayerIndexFiles::lastModified)).toList();
      for (Path p : list) {
        try {
          sizes.put(new Digest(p.getParent().getFileName().toString(), p.getFileName().toString()), Files.size(p));
        } catch (IllegalArgumentException e) {
          Files.deleteIfExists(p);
        }
      }
    }
    return this;
  }

  @Override
  public Optional<LayerIndex> get(Digest layer) {
    Path p = path(layer);
    try {
      byte[] bytes = Files.readAllBytes(p);
      LayerIndex index = LayerIndex.fromBytes(bytes, layer);
      sizes.put(layer, (long) bytes.length);
      hits.increment();
      return Optional.of(index);
    } catch (NoSuchFileException e) {
      sizes.invalidate(layer);
      misses.increment();
      return Optional.empty();
    } catch (IOException e) {
      LOG.warn("layer index of {} is damaged ({}); the layer will be read again", layer, e.getMessage());
      sizes.invalidate(layer);
      delete(layer);
      misses.increment();
      return Optional.empty();
    }
  }

  @Override
  public void putStored(Digest layer, byte[] bytes) {
    try {
      AtomicFiles.write(tmp, path(layer), bytes);
      sizes.put(layer, (long) bytes.length);
    } catch (IOException e) {
      // Only a cost: the next squash of an image on this layer reads it again.
      LOG.warn("could not keep the layer index of {}: {}", layer, e.getMessage());
    }
  }

  /** The cache evicted the layer: its index goes with it. */
  public void layerEvicted(Digest layer) {
    sizes.invalidate(layer);
    delete(layer);
  }

  public long count() {
    return sizes.estimatedSize();
  }

  /** Lookups answered from an index (a layer a squash did not have to read). */
  public long hits() {
    return hits.sum();
  }

  /** Lookups that found no valid index (the layer is read and indexed). */
  public long misses() {
    return misses.sum();
  }

  /** Runs pending evictions now (tests). */
  public void cleanUp() {
    sizes.cleanUp();
  }

  Path path(Digest layer) {
    return dir.resolve(layer.algorithm()).resolve(layer.hex());
  }

  private void delete(Digest layer) {
    try {
      Files.deleteIfExists(path(layer));
    } catch (IOException e) {
      LOG.warn("could not delete the layer index of {}: {}", layer, e.getMessage());
    }
  }

  private static long lastModified(Path p) {
    try {
      return Files.getLastModifiedTime(p).toMillis();
    } catch (IOException e) {
      return 0;
    }
  }
}
