package io.squashproxy.proxy.store;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * A bounded local disk ({@link ContentStore}, with its size cap and LRU eviction) read-through in front of
 * a shared {@link ObjectStore}, for replicas that act as one cache.
 *
 * <p>Writes go to the shared store first, then to local disk: by the time a manifest (or squash record)
 * that names a blob is published, the blob is in the bucket. Each object is written once per digest
 * (a {@code HEAD} skips what another replica already stored; same digest, same bytes).
 *
 * <p>Reads: a local hit is a file. A local miss is copied from the bucket into the local tier (digest
 * verified on the way; one copy at a time per digest however many ask) and then served as a file like any
 * hit. Filling the tier first keeps one serving path (zero-copy {@code FileRegion}, {@code Range} from the
 * file, the handler untouched) and never sends a client a byte whose digest was not checked; the cost is
 * that the first byte of a cold blob waits for the whole copy, which within one region runs at the
 * bucket's per-stream rate (about 100 MB/s on S3).
 *
 * <pre>
 *   PREFIX blobs/sha256/HEX        blob bytes
 *   PREFIX manifests/sha256/HEX    media type, a newline, then the manifest bytes
 * </pre>
 */
public final class TieredStorage implements Storage {
  private static final String MANIFEST_KEY = "manifests/";

  private final ContentStore local;
  private final ObjectStore shared;
  private final ConcurrentMap<Digest, CompletableFuture<Optional<StoredBlob>>> fills = new ConcurrentHashMap<>();
  private final LongAdder sharedReads = new LongAdder();

  public TieredStorage(ContentStore local, ObjectStore shared) {
    this.local = local;
    this.shared = shared;
  }

  public static String blobKey(Digest d) {
    return "blobs/" + d.algorithm() + "/" + d.hex();
  }

  public static String manifestKey(Digest d) {
    return MANIFEST_KEY + d.algorithm() + "/" + d.hex();
  }

  public ObjectStore shared() {
    return shared;
  }

  /** Blobs and manifests copied from the shared store into the local tier. */
  public long sharedReads() {
    return sharedReads.sum();
  }

  @Override
  public ContentStore local() {
    return local;
  }

  @Override
  public Path tmpDir() {
    return local.tmpDir();
  }

  @Override
  public Optional<StoredBlob> blob(Digest d) {
    Optional<StoredBlob> hit = local.blob(d);
    if (hit.isPresent()) {
      return hit;
    }
    CompletableFuture<Optional<StoredBlob>> mine = new CompletableFuture<>();
    CompletableFuture<Optional<StoredBlob>> running = fills.putIfAbsent(d, mine);
    if (running != null) {
      try {
        return running.join();
      } catch (CompletionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : e;
      }
    }
    try {
      Optional<StoredBlob> filled = fill(d);
      mine.complete(filled);
      return filled;
    } catch (IOException e) {
      UncheckedIOException u = new UncheckedIOException(e);
      mine.completeExceptionally(u);
      throw u;
    } catch (RuntimeException e) {
      mine.completeExceptionally(e);
      throw e;
    } finally {
      fills.remove(d, mine);
    }
  }

  /** Copies the blob from the shared store into the local tier, verifying its digest. */
  private Optional<StoredBlob> fill(Digest d) throws IOException {
    Optional<StoredBlob> hit = local.blob(d);
    if (hit.isPresent()) {
      return hit;
    }
    Optional<InputStream> remote = shared.open(blobKey(d));
    if (remote.isEmpty()) {
      return Optional.empty();
    }
    Path t = Files.createTempFile(local.tmpDir(), "fill-", ".tmp");
    try {
      try (InputStream in = new VerifyingInputStream(remote.get(), "blob " + d + " in " + shared.describe(), d, -1);
          OutputStream out = Files.newOutputStream(t)) {
        in.transferTo(out);
      }
      sharedReads.increment();
      return Optional.of(local.adoptVerified(d, t));
    } finally {
      Files.deleteIfExists(t);
    }
  }

  @Override
  public boolean hasBlob(Digest d) {
    if (local.hasBlob(d)) {
      return true;
    }
    try {
      return shared.exists(blobKey(d));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public StoredBlob putBlob(Digest d, byte[] bytes) throws IOException {
    Digest actual = Digest.of(d.algorithm(), d.newMessageDigest().digest(bytes));
    if (!actual.equals(d)) {
      throw new IOException("blob content has digest " + actual + ", not " + d);
    }
    if (!shared.exists(blobKey(d))) {
      shared.put(blobKey(d), bytes);
    }
    return local.putBlob(d, bytes);
  }

  @Override
  public StoredBlob adoptVerified(Digest d, Path file) throws IOException {
    if (!shared.exists(blobKey(d))) {
      shared.putFile(blobKey(d), file);
    }
    return local.adoptVerified(d, file);
  }

  @Override
  public Optional<StoredManifest> manifest(Digest d) throws IOException {
    Optional<StoredManifest> hit = local.manifest(d);
    if (hit.isPresent()) {
      return hit;
    }
    Optional<byte[]> remote = shared.get(manifestKey(d));
    if (remote.isEmpty()) {
      return Optional.empty();
    }
    byte[] stored = remote.get();
    int nl = indexOf(stored, (byte) '\n');
    if (nl < 0) {
      throw new IOException("manifest " + d + " in " + shared.describe() + " has no media type line");
    }
    String mediaType = new String(stored, 0, nl, StandardCharsets.UTF_8);
    byte[] bytes = Arrays.copyOfRange(stored, nl + 1, stored.length);
    if (!Digest.sha256(bytes).equals(d)) {
      throw new IOException("manifest " + d + " in " + shared.describe() + " has digest " + Digest.sha256(bytes));
    }
    sharedReads.increment();
    local.putManifest(bytes, mediaType);
    return Optional.of(new StoredManifest(d, bytes, mediaType));
  }

  @Override
  public Digest putManifest(byte[] bytes, String mediaType) throws IOException {
    Digest d = Digest.sha256(bytes);
    if (!shared.exists(manifestKey(d))) {
      ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length + 64);
      out.write(mediaType.getBytes(StandardCharsets.UTF_8));
      out.write('\n');
      out.write(bytes);
      shared.put(manifestKey(d), out.toByteArray());
    }
    return local.putManifest(bytes, mediaType);
  }

  private static int indexOf(byte[] bytes, byte b) {
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == b) {
        return i;
      }
    }
    return -1;
  }
}
