package io.squashproxy.core.squash;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Gets a layer's {@link LayerIndex}: from the store when it has a valid one for this layer and diff_id, else by
 * reading the layer once (blob digest, size and diff_id verified as it streams) and putting the result in the
 * store. Only a layer that was read to its end and verified is ever indexed.
 */
final class LayerIndexer {
  private final BlobSource blobs;
  private final LayerIndexStore store;
  private final SquashOptions.PathLimit pathLimit;

  LayerIndexer(BlobSource blobs, LayerIndexStore store) {
    this(blobs, store, SquashOptions.PathLimit.NONE);
  }

  /** @param pathLimit the most members the indexes of one image may hold (checked per layer and in all) */
  LayerIndexer(BlobSource blobs, LayerIndexStore store, SquashOptions.PathLimit pathLimit) {
    this.blobs = blobs;
    this.store = store;
    this.pathLimit = pathLimit;
  }

  /** The stored index of this layer, if there is one made from the same diff_id. */
  Optional<LayerIndex> stored(Descriptor layer, Digest diffId) {
    return store.get(layer.digest()).filter(i -> i.diffId().equals(diffId));
  }

  /**
   * @param budget the uncompressed bytes the image may still unpack to ({@link SquashOptions#maxUncompressedBytes})
   * @throws SquashException for a broken or unsupported layer, naming layer {@code index} and the entry
   */
  LayerIndex index(int index, Descriptor layer, Digest diffId, long budget) throws IOException {
    Optional<LayerIndex> known = stored(layer, diffId);
    if (known.isPresent()) {
      return known.get();
    }
    return readAndKeep(index, layer, diffId, budget);
  }

  private LayerIndex readAndKeep(int index, Descriptor layer, Digest diffId, long budget) throws IOException {
    LayerIndex read = read(index, layer, diffId, budget);
    store.put(read);
    return read;
  }

  private LayerIndex read(int index, Descriptor layer, Digest diffId, long budget) throws IOException {
    String current = null;
    try (InputStream tar = Squasher.openVerified(layer, diffId, blobs)) {
      LimitedTee tee = new LimitedTee(tar, OutputStream.nullOutputStream(), budget);
      TarReader reader = new TarReader(tee);
      List<LayerIndex.Member> members = new ArrayList<>();
      for (TarEntry e = reader.next(); e != null; e = reader.next()) {
        current = e.name();
        pathLimit.check(members.size() + 1L, index, layer);
        members.add(LayerIndex.Member.of(e));
      }
      current = null;
      tee.transferTo(OutputStream.nullOutputStream()); // trailing zero blocks also count for diff_id
      return new LayerIndex(layer.digest(), diffId, tee.count, members);
    } catch (Throwable e) {
      throw Squasher.layerFailure(index, layer, current, e);
    }
  }

  /**
   * Every layer's index, from the store or read (two layers at a time: inflating is the cost, and layers are
   * independent until they meet in the tree). The image's uncompressed budget holds for the sum.
   */
  List<LayerIndex> all(List<Descriptor> layers, List<Digest> diffIds, long budget, SquashListener listener)
      throws IOException {
    int total = layers.size();
    List<Future<LayerIndex>> reading = new ArrayList<>(Collections.nCopies(total, null));
    LayerIndex[] found = new LayerIndex[total];
    ExecutorService readers = null;
    try {
      for (int i = 0; i < total; i++) {
        found[i] = stored(layers.get(i), diffIds.get(i)).orElse(null);
        if (found[i] == null) {
          if (readers == null) {
            readers = SpoolThreads.start(SpoolThreads.THREADS);
          }
          int index = i;
          reading.set(i, readers.submit(() -> readAndKeep(index, layers.get(index), diffIds.get(index), budget)));
        }
      }
      long sum = 0;
      long paths = 0;
      for (int i = 0; i < total; i++) {
        if (found[i] == null) {
          found[i] = await(reading.get(i));
        }
        paths += found[i].members().size();
        pathLimit.check(paths, i, layers.get(i));
        sum += found[i].tarSize();
        if (sum > budget) {
          throw SquashException.unsupportedInLayer(i, layers.get(i).digest(), null, LimitedTee.overLimit(budget), null);
        }
        listener.layerRead(i, total, layers.get(i), found[i].tarSize());
      }
      return List.of(found);
    } finally {
      if (readers != null) {
        SpoolThreads.stop(readers);
      }
    }
  }

  private static LayerIndex await(Future<LayerIndex> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while squashing");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(e.getCause());
    }
  }
}
