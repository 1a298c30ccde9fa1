package io.squashproxy.core.squash;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Gets a layer's {@link LayerIndex}: from the store when it has a valid one for this layer and diff_id, else by
 * reading the layer once (blob digest, size and diff_id verified as it streams) and putting the result in the
 * store. Only a layer that was read to its end and verified is ever indexed.
 */
final class LayerIndexer {
  private final BlobSource blobs;
  private final LayerIndexStore store;

  LayerIndexer(BlobSource blobs, LayerIndexStore store) {
    this.blobs = blobs;
    this.store = store;
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
    LayerIndex read = read(index, layer, diffId, budget);
    store.put(read);
    return read;
  }

  private LayerIndex read(int index, Descriptor layer, Digest diffId, long budget) throws IOException {
    String current = null;
    try (InputStream tar = Squasher.openVerified(layer, diffId, blobs)) {
      Squasher.LimitedTee tee = new Squasher.LimitedTee(tar, OutputStream.nullOutputStream(), budget);
      TarReader reader = new TarReader(tee);
      List<LayerIndex.Member> members = new ArrayList<>();
      for (TarEntry e = reader.next(); e != null; e = reader.next()) {
        current = e.name();
        members.add(LayerIndex.Member.of(e));
      }
      current = null;
      tee.transferTo(OutputStream.nullOutputStream()); // trailing zero blocks also count for diff_id
      return new LayerIndex(layer.digest(), diffId, tee.count, members);
    } catch (Throwable e) {
      throw Squasher.layerFailure(index, layer, current, e);
    }
  }
}
