package io.squashproxy.core.squash;

import io.squashproxy.core.digest.Digest;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Where squashes keep {@link LayerIndex}es between images, by layer blob digest: a base layer shared by many
 * images is read once. An implementation returns only an index that checks out ({@link LayerIndex#fromBytes})
 * and drops a damaged one; a squash that finds none reads the layer and puts a new one.
 */
public interface LayerIndexStore {

  Optional<LayerIndex> get(Digest layer);

  /** Keeps {@code index}. */
  default void put(LayerIndex index) {
    putStored(index.layer(), index.toBytes());
  }

  /** Keeps the index of {@code layer} in its stored form ({@link LayerIndex#toBytes}, {@link LayerIndex.Writer}). */
  void putStored(Digest layer, byte[] stored);

  /** Keeps nothing: every squash reads its layers. */
  LayerIndexStore NONE = new LayerIndexStore() {
    @Override
    public Optional<LayerIndex> get(Digest layer) {
      return Optional.empty();
    }

    @Override
    public void putStored(Digest layer, byte[] stored) {}
  };

  /**
   * The last {@code maxLayers} indexes in memory (one run of the offline command), in their stored form
   * ({@link LayerIndex#toBytes}: deflated, a few bytes a member, where the objects take about a hundred), so that
   * remembering the layers of a million-path image does not cost the squash its heap.
   */
  static LayerIndexStore inMemory(int maxLayers) {
    Map<Digest, byte[]> lru = Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
      private static final long serialVersionUID = 1L;

      @Override
      protected boolean removeEldestEntry(Map.Entry<Digest, byte[]> eldest) {
        return size() > maxLayers;
      }
    });
    return new LayerIndexStore() {
      @Override
      public Optional<LayerIndex> get(Digest layer) {
        byte[] stored = lru.get(layer);
        if (stored == null) {
          return Optional.empty();
        }
        try {
          return Optional.of(LayerIndex.fromBytes(stored, layer));
        } catch (java.io.IOException e) {
          lru.remove(layer); // cannot happen to bytes we wrote; if it does, the layer is read again
          return Optional.empty();
        }
      }

      @Override
      public void putStored(Digest layer, byte[] stored) {
        lru.put(layer, stored);
      }
    };
  }
}
