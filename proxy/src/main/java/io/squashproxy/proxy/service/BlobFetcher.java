package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Upstream blobs into the store: one upstream GET per blob however many ask at the same time (clients and
 * squashes alike, see {@link BlobDownload}), the digest and size verified before the blob is stored. A
 * download leaves the map when it ends; the store answers after that. A failed download is not kept, so
 * the next request tries again.
 */
final class BlobFetcher {
  private final Storage store;
  private final Executor io;
  private final ProxyStats stats;
  private final ConcurrentHashMap<BlobKey, BlobDownload> running = new ConcurrentHashMap<>();

  private record BlobKey(String upstream, String repository, Digest digest) {}

  BlobFetcher(Storage store, Executor io, ProxyStats stats) {
    this.store = store;
    this.io = io;
    this.stats = stats;
  }

  /** The blob in the local store, downloading it once however many ask at the same time. */
  CompletableFuture<StoredBlob> ensureBlob(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      return CompletableFuture.completedFuture(local.get());
    }
    return download(route, digest).done();
  }

  /**
   * {@link #ensureBlob}, for a squash: a blob still streaming to clients is handed over once they have all
   * read it, so a squash (CPU on every core) does not slow down the pull it runs beside.
   */
  CompletableFuture<StoredBlob> ensureBlobAfterReaders(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      return CompletableFuture.completedFuture(local.get());
    }
    BlobDownload d = download(route, digest);
    return d.done().thenCombine(d.idle(), (blob, idle) -> blob);
  }

  /**
   * The download of a blob that is not in the store: the one running, or a new one. Its {@link
   * BlobDownload#started} completes when upstream answered, so a client can be sent bytes as they arrive.
   */
  BlobDownload download(Route route, Digest digest) {
    BlobKey key = new BlobKey(route.upstream().name(), route.repository(), digest);
    BlobDownload[] created = new BlobDownload[1];
    BlobDownload d = running.computeIfAbsent(key, k -> created[0] = new BlobDownload(digest));
    if (created[0] != null) {
      d.done().whenComplete((b, e) -> running.remove(key, d));
      // A retry's pause (a 429's Retry-After) holds no io thread: the task runs again after it.
      ScheduledRetries.supplyAsync(() -> {
        // Another download may have stored it between the caller's look and this one.
        Optional<StoredBlob> local = store.blob(digest);
        if (local.isPresent()) {
          d.completeStored(local.get());
        } else {
          d.run(route, store, stats);
        }
        return null;
      }, io).whenComplete((v, e) -> {
        if (e != null && !d.done().isDone()) {
          d.fail(e);
        }
      });
    }
    return d;
  }
}
