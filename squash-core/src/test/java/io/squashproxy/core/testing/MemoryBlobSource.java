package io.squashproxy.core.testing;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory {@link BlobSource}. Blobs are usually stored under their own digest ({@link #put(byte[])}),
 * but a test can store bytes under any digest ({@link #put(Digest, byte[])}) to simulate a registry that
 * serves the wrong content.
 */
public final class MemoryBlobSource implements BlobSource {
  private final Map<Digest, byte[]> blobs = new LinkedHashMap<>();
  private final AtomicInteger opens = new AtomicInteger();
  private final Map<Digest, Integer> opensByDigest = new java.util.concurrent.ConcurrentHashMap<>();

  /** Stores {@code bytes} under their sha256 digest and returns it. */
  public Digest put(byte[] bytes) {
    Digest d = Digest.sha256(bytes);
    blobs.put(d, bytes.clone());
    return d;
  }

  /** Stores {@code bytes} under {@code digest}, whatever they hash to. */
  public void put(Digest digest, byte[] bytes) {
    blobs.put(digest, bytes.clone());
  }

  public byte[] get(Digest digest) {
    byte[] b = blobs.get(digest);
    return b == null ? null : b.clone();
  }

  public boolean contains(Digest digest) {
    return blobs.containsKey(digest);
  }

  /** A copy of this source, so a test can corrupt one blob without touching a shared image. */
  public MemoryBlobSource copy() {
    MemoryBlobSource c = new MemoryBlobSource();
    c.blobs.putAll(blobs);
    return c;
  }

  public int opens() {
    return opens.get();
  }

  /** How often {@code digest} was opened. */
  public int opens(Digest digest) {
    return opensByDigest.getOrDefault(digest, 0);
  }

  @Override
  public InputStream open(Digest digest) throws FileNotFoundException {
    byte[] b = blobs.get(digest);
    if (b == null) {
      throw new FileNotFoundException("no blob " + digest);
    }
    opens.incrementAndGet();
    opensByDigest.merge(digest, 1, Integer::sum);
    return new ByteArrayInputStream(b);
  }
}
