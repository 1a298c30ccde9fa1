package io.squashproxy.proxy.service;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.service.SquashOrchestrator.SquashKey;
import io.squashproxy.proxy.service.TagResolver.ResolvedTag;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import io.squashproxy.proxy.store.SquashLeases;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.store.TagStore.TagRecord;
import io.squashproxy.core.squash.LayerIndexStore;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * The proxy's registry: a local store (cache directory) in front of a remote one (the upstreams), which
 * squashes images as they are pulled. This class routes a request; the work is done by
 *
 * <ul>
 *   <li>{@link TagResolver}: what a tag names upstream, and upstream documents by digest;
 *   <li>{@link SquashOrchestrator}: what a rule makes of a document (squashed once, single-flight), with
 *       {@link SquashRunner} running one squash and {@link BaseImageLayers} for {@code mode: base};
 *   <li>{@link BlobFetcher}: upstream blobs into the store, one GET per blob.
 * </ul>
 *
 * A manifest request:
 * <ul>
 *   <li>By tag: the tag is resolved upstream (HEAD, cached with a TTL), the image squashed once, and the
 *       squashed manifest served under its own digest, so docker's follow-up pull by digest hits the cache.
 *       A squash that takes longer than the rule's {@code wait} goes on in the background while this pull
 *       gets the original document (byte-exact, its own digest), whose blobs stream through from the very
 *       downloads the squash reads; the pulls after it finished get the squashed image.
 *   <li>By a digest we made: served from the cache, re-made from upstream if evicted.
 *   <li>By any other digest: the upstream document passed through byte-exact.
 * </ul>
 */
public final class ImageService {
  private final Storage store;
  private final TagStore tags;
  private final SquashRecords records;
  private final Executor io;
  private final ProxyStats stats;
  private final TagResolver resolver;
  private final BlobFetcher blobs;
  private final SquashOrchestrator squashes;
  private final BackgroundSquashes background;
  private final Referrers referrers;
  private final RefusedImages refused;
  /**
   * Answers already given, for {@link #cachedManifest}: what a fresh tag's source digest became under a
   * rule, and every manifest by its digest. Both are content-addressed (a source digest and a rule always
   * give the same squashed bytes), so an entry never goes stale; the tag TTL is checked on each request.
   */
  private final Cache<SquashKey, ServedManifest> servedBySource;
  private final Cache<Digest, ServedManifest> servedByDigest;

  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      Executor io, Executor squashPool, long maxUncompressedBytes, ProxyStats stats) {
    this(upstreams, store, tags, records, SquashLeases.none(), io, squashPool, maxUncompressedBytes, stats);
  }

  /** @param leases claims on squashes shared with other replicas ({@link SquashLeases#none()} for one) */
  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      SquashLeases leases, Executor io, Executor squashPool, long maxUncompressedBytes, ProxyStats stats) {
    this(upstreams, store, tags, records, leases, LayerIndexStore.NONE, io, squashPool,
        SquashLimits.ofSize(maxUncompressedBytes), stats,
        new RefusedImages(com.github.benmanes.caffeine.cache.Ticker.systemTicker()));
  }

  /**
   * @param indexes layer indexes kept between squashes (a shared base is read once for all its images)
   * @param limits images too large (bytes or paths) to squash, which are served as they are
   * @param refused the memory of broken images refused (its metrics are bound to {@code stats}' registry)
   */
  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      SquashLeases leases, LayerIndexStore indexes, Executor io, Executor squashPool, SquashLimits limits,
      ProxyStats stats, RefusedImages refused) {
    this.refused = refused;
    refused.bindTo(stats.registry());
    this.referrers = new Referrers(io, d -> records.byManifest(d).map(SquashRecord::source).orElse(d));
    this.store = store;
    this.tags = tags;
    this.records = records;
    this.io = io;
    this.stats = stats;
    this.resolver = new TagResolver(store, tags, io, stats);
    this.blobs = new BlobFetcher(store, io, stats);
    this.background = new BackgroundSquashes(stats.registry());
    this.squashes = new SquashOrchestrator(resolver, blobs, new SquashRunner(store, records, stats, indexes),
        new BaseImageLayers(upstreams, resolver, store), store, records, leases, io, squashPool,
        limits, stats, background, refused);
    this.servedBySource = Caffeine.newBuilder().maximumSize(10_000).executor(io).build();
    this.servedByDigest = Caffeine.newBuilder().maximumSize(10_000).executor(io).build();
  }

  public ProxyStats stats() {
    return stats;
  }

  /** Broken images refused lately, for the status page. */
  public RefusedImages refused() {
    return refused;
  }

  /** Squashes no client waits for any more, for the status page. */
  public BackgroundSquashes backgroundSquashes() {
    return background;
  }

  /** A manifest by tag or digest, squashed according to the route's rule. */
  public CompletableFuture<ServedManifest> manifest(Route route, String reference) {
    if (Names.isDigest(reference)) {
      Digest d = Names.digest(reference, ErrorCode.MANIFEST_UNKNOWN);
      return CompletableFuture.supplyAsync(() -> byDigest(route, d), io).thenCompose(f -> f)
          .whenComplete((m, e) -> rememberByDigest(d, m));
    }
    if (!Names.isValidTag(reference)) {
      throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "invalid tag: " + reference);
    }
    // A shared tag store is a network call: off the event loop this method is called on.
    CompletableFuture<ResolvedTag> resolved = tags.shared()
        ? CompletableFuture.supplyAsync(() -> resolver.resolveTag(route, reference), io).thenCompose(f -> f)
        : resolver.resolveTag(route, reference);
    return resolved
        .thenCompose(tag -> {
          CompletableFuture<ServedManifest> produced = resolver.sourceManifest(route, tag.record().digest())
              .thenCompose(source -> squashes.produceWithinWait(route, source));
          return tag.stale() ? produced.thenApply(m -> {
            stats.staleServed.increment();
            return m.asStale();
          }) : produced.whenComplete((m, e) -> rememberBySource(route, tag.record().digest(), m));
        });
  }

  /**
   * The answer to {@link #manifest} when it is already known in memory and needs no upstream check (a
   * digest served before, or a tag within its TTL whose image was served before), else null. No I/O and
   * no waiting, so the event loop can answer at once: the hot path of every warm pull.
   */
  public ServedManifest cachedManifest(Route route, String reference) {
    if (Names.isDigest(reference)) {
      return servedByDigest.getIfPresent(Names.digest(reference, ErrorCode.MANIFEST_UNKNOWN));
    }
    // Memory only: TagStore.get may read the shared bucket, which must not happen on the event loop.
    Optional<TagRecord> tag = tags.local(TagStore.key(route.upstream().name(), route.repository(), reference));
    if (tag.isEmpty() || !tags.isFresh(tag.get())) {
      return null;
    }
    return servedBySource.getIfPresent(SquashKey.of(route, tag.get().digest()));
  }

  private void rememberBySource(Route route, Digest source, ServedManifest m) {
    if (m != null && !m.stale() && !m.squashPending()) {
      servedBySource.put(SquashKey.of(route, source), m);
      servedByDigest.put(m.digest(), m);
    }
  }

  private void rememberByDigest(Digest requested, ServedManifest m) {
    if (m != null && !m.stale() && m.digest().equals(requested)) {
      servedByDigest.put(requested, m);
    }
  }

  /**
   * A blob in the store: from the cache, re-made if it was a squashed blob that got evicted, else
   * downloaded from upstream (completes when it is stored).
   */
  public CompletableFuture<StoredBlob> blob(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      stats.blobHits.increment();
      return CompletableFuture.completedFuture(local.get());
    }
    stats.blobMisses.increment();
    Optional<SquashRecord> made = records.byBlob(digest);
    if (made.isPresent()) {
      SquashRecord r = made.get();
      return resolver.sourceManifest(route, r.source())
          .thenCompose(source -> squashes.produce(route, source).thenCompose(m -> {
            if (store.hasBlob(digest)) {
              return CompletableFuture.completedFuture(m);
            }
            squashes.forget(route, source); // the remembered squash's output was evicted since: squash again
            return squashes.produce(route, source);
          }))
          .thenApply(m -> store.blob(digest).orElseThrow(() -> new RegistryException(ErrorCode.BLOB_UNKNOWN,
              "blob " + digest + " could not be made again")));
    }
    return blobs.ensureBlob(route, digest);
  }

  /**
   * A blob for a client: from the cache; re-made if it was a squashed blob that got evicted; else the
   * upstream download (shared with every other request for it), to stream as it arrives. Completes once
   * upstream answered, before the body is in.
   */
  public CompletableFuture<ServedBlob> serveBlob(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      stats.blobHits.increment();
      return CompletableFuture.completedFuture(ServedBlob.of(local.get()));
    }
    if (records.byBlob(digest).isPresent()) {
      return blob(route, digest).thenApply(ServedBlob::of); // counts the miss
    }
    stats.blobMisses.increment();
    BlobDownload d = blobs.download(route, digest);
    return d.started().thenApply(ServedBlob::of);
  }

  /**
   * Squashes an image ahead of demand (as a pull that waits for it would), by digest when known, else by
   * tag. A pushed tag with its digest is recorded in the tag store at once: the registry just said what
   * the tag names, so the next pull by tag need not wait for the tag's TTL to see it.
   */
  public CompletableFuture<ServedManifest> warm(Route route, String tag, Digest digest, String mediaType) {
    return CompletableFuture.supplyAsync(() -> {
      if (digest != null) {
        if (tag != null) {
          try {
            tags.put(TagStore.key(route.upstream().name(), route.repository(), tag), digest, mediaType);
          } catch (IOException e) {
            throw new CompletionException(e);
          }
        }
        return CompletableFuture.completedFuture(digest);
      }
      return resolver.resolveTag(route, tag).thenApply(t -> t.record().digest());
    }, io).thenCompose(f -> f)
        .thenCompose(d -> resolver.sourceManifest(route, d))
        .thenCompose(source -> squashes.produce(route, source));
  }

  /**
   * The referrers of {@code digest} as an image index (see {@link Referrers}; a squashed digest has those of
   * its source), with whether {@code artifactType} was applied and upstream's pagination link.
   */
  public CompletableFuture<Referrers.Listing> referrers(Route route, Digest digest, String artifactType) {
    return referrers.list(route, digest, artifactType);
  }

  /** One page of the upstream tag list. */
  public CompletableFuture<Upstream.TagPage> tags(Route route, Integer n, String last) {
    return ScheduledRetries.supplyAsync(() -> {
      try {
        return route.upstream().tags(route.repository(), n, last).orElseThrow(() -> new RegistryException(
            ErrorCode.NAME_UNKNOWN, "repository " + route.clientName() + " is not known upstream"));
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, io);
  }

  private CompletableFuture<ServedManifest> byDigest(Route route, Digest d) {
    try {
      Optional<StoredManifest> local = store.manifest(d);
      if (local.isPresent()) {
        StoredManifest m = local.get();
        return CompletableFuture.completedFuture(new ServedManifest(m.bytes(), m.mediaType(), d, false));
      }
    } catch (IOException e) {
      throw new CompletionException(e);
    }
    Optional<SquashRecord> made = records.byManifest(d);
    if (made.isPresent()) {
      return resolver.sourceManifest(route, made.get().source()).thenCompose(source -> squashes.produce(route, source));
    }
    return resolver.sourceManifest(route, d); // pass the original through
  }
}
