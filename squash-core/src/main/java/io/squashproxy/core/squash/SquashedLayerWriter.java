package io.squashproxy.core.squash;

import io.squashproxy.core.digest.DigestingOutputStream;
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
 * the file).
 */
final class SquashedLayerWriter implements Closeable {
  private final OutputStream file;
  private final DigestingOutputStream compressed;
  private final OutputStream compressor;
  private final DigestingOutputStream tarDigest;
  private final TarWriter tar;
  private boolean done;

  SquashedLayerWriter(Path layerFile, Compression compression, CompressionPool pool) throws IOException {
    file = Files.newOutputStream(layerFile);
    try {
      compressed = new DigestingOutputStream(new BufferedOutputStream(file, 1 << 16));
      compressor = compression.compress(compressed, pool);
      tarDigest = new DigestingOutputStream(new BufferedOutputStream(compressor, 1 << 16));
      tar = new TarWriter(tarDigest);
    } catch (IOException | RuntimeException e) {
      file.close();
      throw e;
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
    tar.finish();
    tarDigest.flush();
    done = true;
    compressor.close(); // finishes the compressed stream and closes the file
    return new Squasher.Written(compressed.digest(), compressed.count(), tarDigest.digest(), tarDigest.count());
  }

  @Override
  public void close() throws IOException {
    if (done) {
      return;
    }
    done = true;
    try {
      compressor.close(); // frees the compressor's native memory; what it writes is thrown away
    } catch (IOException | RuntimeException ignored) {
      // the squash already failed; that failure is the one to report
    } finally {
      file.close();
    }
  }
}
