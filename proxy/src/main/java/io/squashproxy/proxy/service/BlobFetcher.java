package io.squashproxy.proxy.service;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * Upstream blobs into the store: one upstream GET per blob however many ask at the same time (clients and
 * squashes alike), the digest and size verified before the blob is stored. A failed download is not kept.
 */
final class BlobFetcher {
  private final Storage store;
  private final Executor io;
  private final ProxyStats stats;
  private final AsyncCache<BlobKey, StoredBlob> downloads;

  private record BlobKey(String upstream, String repository, Digest digest) {}

  BlobFetcher(Storage store, Executor io, ProxyStats stats) {
    this.store = store;
    this.io = io;
    this.stats = stats;
    // Completed entries only need to outlive the requests racing for them; the store keeps the results.
    this.downloads = Caffeine.newBuilder().expireAfterWrite(Duration.ofSeconds(30)).maximumSize(10_000)
        .executor(io).buildAsync();
  }

  /** The blob in the local store, downloading it once however many ask at the same time. */
  CompletableFuture<StoredBlob> ensureBlob(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      return CompletableFuture.completedFuture(local.get());
    }
    BlobKey key = new BlobKey(route.upstream().name(), route.repository(), digest);
    return downloads.get(key, (k, ex) -> CompletableFuture.supplyAsync(() -> download(route, digest), io));
  }

  private StoredBlob download(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      return local.get();
    }
    stats.upstreamBlobGets.increment();
    long started = System.nanoTime();
    boolean ok = false;
    try (Upstream.BlobStream body = route.upstream().blob(route.repository(), digest)
        .orElseThrow(() -> new RegistryException(ErrorCode.BLOB_UNKNOWN,
            "blob " + digest + " is not known upstream in " + route.clientName()))) {
      StoredBlob stored = store.putBlob(digest, body.size(), body.body());
      stats.upstreamBlobBytes.add(stored.size());
      ok = true;
      return stored;
    } catch (IOException e) {
      throw new CompletionException(e);
    } finally {
      stats.upstreamTook("blob", "get", ok, System.nanoTime() - started);
    }
  }
}
