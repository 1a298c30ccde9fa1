package io.squashproxy.core.squash;

import io.squashproxy.core.digest.DigestingOutputStream;
import io.squashproxy.core.estargz.EstargzWriter;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.tar.TarWriter;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The squashed layer being written: a tar, hashed (diff_id), compressed, hashed again (blob digest), into
 * {@code layerFile}. {@link #finish} completes it; {@link #close} without it abandons it (the caller deletes
 * the file). For estargz the {@link EstargzWriter} does the tar, its hashing and compression, and adds the
 * descriptor annotations to what {@link #finish} returns.
 */
final class SquashedLayerWriter implements Closeable {
  private final OutputStream file;
  private final DigestingOutputStream compressed;
  private final OutputStream compressor;
  private final DigestingOutputStream tarDigest;
  private final EstargzWriter estargz;
  private final TarWriter tar;
  private boolean done;

  SquashedLayerWriter(Path layerFile, Compression compression, CompressionPool pool) throws IOException {
    this(layerFile, compression, pool, false);
  }

  /**
   * @param prioritized estargz only: the caller writes the prioritised entries first, then {@link
   *     #endPrioritized}
   */
  SquashedLayerWriter(Path layerFile, Compression compression, CompressionPool pool, boolean prioritized)
      throws IOException {
    file = Files.newOutputStream(layerFile);
    try {
      compressed = new DigestingOutputStream(new BufferedOutputStream(file, 1 << 16));
      if (compression.algorithm() == Compression.Algorithm.ESTARGZ) {
        estargz = new EstargzWriter(compressed, compression.level(), compression.chunkSize(), pool, prioritized);
        compressor = null;
        tarDigest = null;
        tar = estargz.tar();
      } else {
        estargz = null;
        compressor = compression.compress(compressed, pool);
        tarDigest = new DigestingOutputStream(new BufferedOutputStream(compressor, 1 << 16));
        tar = new TarWriter(tarDigest);
      }
    } catch (IOException | RuntimeException e) {
      file.close();
      throw e;
    }
  }

  /** After the prioritised entries (estargz with a prioritised list): the prefetch landmark. */
  void endPrioritized() throws IOException {
    if (estargz != null) {
      estargz.endPrioritized();
    }
  }

  TarWriter tar() {
    return tar;
  }

  /** Compressed bytes so far (for progress). */
  long compressedBytes() {
    return compressed.count();
  }

  Squasher.Written finish() throws IOException {
    if (estargz != null) {
      EstargzWriter.Result r = estargz.finish();
      done = true;
      compressed.close();
      return new Squasher.Written(compressed.digest(), compressed.count(), r.diffId(), r.tarSize(),
          r.annotations());
    }
    tar.finish();
    tarDigest.flush();
    done = true;
    compressor.close(); // finishes the compressed stream and closes the file
    return new Squasher.Written(compressed.digest(), compressed.count(), tarDigest.digest(), tarDigest.count(),
        java.util.Map.of());
  }

  @Override
  public void close() throws IOException {
    if (done) {
      return;
    }
    done = true;
    try {
      if (estargz != null) {
        estargz.close();
      } else {
        compressor.close(); // frees the compressor's native memory; what it writes is thrown away
      }
    } catch (IOException | RuntimeException ignored) {
      // the squash already failed; that failure is the one to report
    } finally {
      file.close();
    }
  }
}
