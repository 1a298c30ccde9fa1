package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageConfig;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.squash.LayerIndexStore;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import io.squashproxy.proxy.store.SquashLeases;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.store.TagStore.TagRecord;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.Upstream.ManifestHead;
import io.squashproxy.proxy.upstream.Upstream.RawManifest;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's registry: a local store (cache directory) in front of a remote one (the upstreams), which
 * squashes images as they are pulled.
 *
 * <ul>
 *   <li>By tag: the tag is resolved upstream (HEAD, cached with a TTL), the image squashed once, and the
 *       squashed manifest served under its own digest, so docker's follow-up pull by digest hits the cache.
 *   <li>By a digest we made: served from the cache, re-made from upstream if evicted.
 *   <li>By any other digest: the upstream document passed through byte-exact.
 * </ul>
 *
 * Squashes and blob downloads are single-flight through Caffeine {@link AsyncCache}s: concurrent requests
 * for one image share one squash and one upstream GET per blob. A failed load is not cached.
 */
public final class ImageService {
  private static final Logger LOG = LoggerFactory.getLogger(ImageService.class);

  private final Upstreams upstreams;
  private final Storage store;
  private final SquashLeases leases;
  private final TagStore tags;
  private final SquashRecords records;
  private final Executor io;
  private final Referrers referrers;
  private final Executor squashPool;
  private final long maxUncompressedBytes;
  private final ProxyStats stats;
  private final LayerIndexStore indexes;
  private final AsyncCache<SquashKey, ServedManifest> squashes;
  private final AsyncCache<BlobKey, StoredBlob> downloads;
  /**
   * Answers already given, for {@link #cachedManifest}: what a fresh tag's source digest became under a
   * rule, and every manifest by its digest. Both are content-addressed (a source digest and a rule always
   * give the same squashed bytes), so an entry never goes stale; the tag TTL is checked on each request.
   */
  private final Cache<SquashKey, ServedManifest> servedBySource;
  private final Cache<Digest, ServedManifest> servedByDigest;

  private record SquashKey(String upstream, String repository, Digest source, SquashRule rule) {}

  private record BlobKey(String upstream, String repository, Digest digest) {}

  /**
   * Upstream tag lookups ({@code HEAD}) and manifest {@code GET}s in flight, so that concurrent requests for
   * one tag or digest share one upstream request (a manifest GET counts against Docker Hub's pull limit).
   * An entry lives only while its request runs: afterwards the tag store and the content store answer.
   */
  private final AsyncCache<Object, Object> lookups;

  private record TagLookup(String tagKey) {}

  private record ManifestLookup(String upstream, String repository, Digest digest) {}

  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      Executor io, Executor squashPool, long maxUncompressedBytes, ProxyStats stats) {
    this(upstreams, store, tags, records, SquashLeases.none(), io, squashPool, maxUncompressedBytes, stats);
  }

  /** @param leases claims on squashes shared with other replicas ({@link SquashLeases#none()} for one) */
  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      SquashLeases leases, Executor io, Executor squashPool, long maxUncompressedBytes, ProxyStats stats) {
    this(upstreams, store, tags, records, leases, LayerIndexStore.NONE, io, squashPool, maxUncompressedBytes, stats);
  }

  /** @param indexes layer indexes kept between squashes (a shared base is read once for all its images) */
  public ImageService(Upstreams upstreams, Storage store, TagStore tags, SquashRecords records,
      SquashLeases leases, LayerIndexStore indexes, Executor io, Executor squashPool, long maxUncompressedBytes,
      ProxyStats stats) {
    this.indexes = indexes;
    this.upstreams = upstreams;
    this.store = store;
    this.leases = leases;
    this.tags = tags;
    this.records = records;
    this.io = io;
    this.squashPool = squashPool;
    this.maxUncompressedBytes = maxUncompressedBytes;
    this.stats = stats;
    // Completed entries only need to outlive the requests racing for them; the store keeps the results.
    this.squashes = Caffeine.newBuilder().expireAfterWrite(Duration.ofMinutes(10)).maximumSize(10_000)
        .executor(io).buildAsync();
    this.downloads = Caffeine.newBuilder().expireAfterWrite(Duration.ofSeconds(30)).maximumSize(10_000)
        .executor(io).buildAsync();
    this.lookups = Caffeine.newBuilder().executor(io).buildAsync();
    this.servedBySource = Caffeine.newBuilder().maximumSize(10_000).executor(io).build();
    this.servedByDigest = Caffeine.newBuilder().maximumSize(10_000).executor(io).build();
    this.referrers = new Referrers(io, d -> records.byManifest(d).map(SquashRecord::source).orElse(d));
  }

  public ProxyStats stats() {
    return stats;
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
        ? CompletableFuture.supplyAsync(() -> resolveTag(route, reference), io).thenCompose(f -> f)
        : resolveTag(route, reference);
    return resolved
        .thenCompose(tag -> {
          CompletableFuture<ServedManifest> produced = sourceManifest(route, tag.record.digest())
              .thenCompose(source -> produce(route, source));
          return tag.stale ? produced.thenApply(m -> {
            stats.staleServed.increment();
            return m.asStale();
          }) : produced.whenComplete((m, e) -> rememberBySource(route, tag.record.digest(), m));
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
    return servedBySource.getIfPresent(
        new SquashKey(route.upstream().name(), route.repository(), tag.get().digest(), route.rule()));
  }

  private void rememberBySource(Route route, Digest source, ServedManifest m) {
    if (m != null && !m.stale()) {
      servedBySource.put(new SquashKey(route.upstream().name(), route.repository(), source, route.rule()), m);
      servedByDigest.put(m.digest(), m);
    }
  }

  private void rememberByDigest(Digest requested, ServedManifest m) {
    if (m != null && !m.stale() && m.digest().equals(requested)) {
      servedByDigest.put(requested, m);
    }
  }

  /** A blob: from the cache, re-made if it was a squashed blob that got evicted, else from upstream. */
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
      return sourceManifest(route, r.source())
          .thenCompose(source -> produce(route, source))
          .thenApply(m -> store.blob(digest).orElseThrow(() -> new RegistryException(ErrorCode.BLOB_UNKNOWN,
              "blob " + digest + " could not be made again")));
    }
    return ensureBlob(route, digest);
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

  private record ResolvedTag(TagRecord record, boolean stale) {}

  private CompletableFuture<ResolvedTag> resolveTag(Route route, String tag) {
    String key = TagStore.key(route.upstream().name(), route.repository(), tag);
    Optional<TagRecord> known = tags.get(key);
    if (known.isPresent() && tags.isFresh(known.get())) {
      return CompletableFuture.completedFuture(new ResolvedTag(known.get(), false));
    }
    return singleFlight(new TagLookup(key), () -> headTag(route, tag, key));
  }

  private ResolvedTag headTag(Route route, String tag, String key) {
    Optional<TagRecord> known = tags.get(key);
    if (known.isPresent() && tags.isFresh(known.get())) {
      return new ResolvedTag(known.get(), false); // another request refreshed it just now
    }
    try {
      stats.upstreamManifestHeads.increment();
      Optional<ManifestHead> head = timed("manifest", "head",
          () -> route.upstream().headManifest(route.repository(), tag));
      if (head.isEmpty()) {
        throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
            "manifest " + route.clientName() + ":" + tag + " is not known upstream");
      }
      return new ResolvedTag(tags.put(key, head.get().digest(), String.valueOf(head.get().mediaType())), false);
    } catch (UpstreamException e) {
      if (e.unreachable() && known.isPresent()) {
        LOG.warn("{}: serving cached {}:{} ({})", route.upstream().name(), route.clientName(), tag,
            e.getMessage());
        return new ResolvedTag(known.get(), true);
      }
      throw new CompletionException(e);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
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
      return sourceManifest(route, made.get().source()).thenCompose(source -> produce(route, source));
    }
    return sourceManifest(route, d); // pass the original through
  }

  /** The upstream document with this digest, from the cache or fetched (once) and verified. */
  private CompletableFuture<ServedManifest> sourceManifest(Route route, Digest d) {
    return CompletableFuture.supplyAsync(() -> storedManifest(d), io).thenCompose(local -> local.isPresent()
        ? CompletableFuture.completedFuture(local.get())
        : singleFlight(new ManifestLookup(route.upstream().name(), route.repository(), d),
            () -> fetchManifest(route, d)));
  }

  private Optional<ServedManifest> storedManifest(Digest d) {
    try {
      return store.manifest(d).map(m -> new ServedManifest(m.bytes(), m.mediaType(), d, false));
    } catch (IOException e) {
      throw new CompletionException(e);
    }
  }

  private ServedManifest fetchManifest(Route route, Digest d) {
    try {
      Optional<ServedManifest> local = storedManifest(d);
      if (local.isPresent()) {
        return local.get(); // another request fetched it just now
      }
      stats.upstreamManifestGets.increment();
      RawManifest raw = timed("manifest", "get", () -> route.upstream().manifest(route.repository(), d.toString()))
          .orElseThrow(() -> new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
              "manifest " + route.clientName() + "@" + d + " is not known upstream"));
      String mediaType = MediaTypeSniffer.effective(raw.mediaType(), raw.bytes());
      store.putManifest(raw.bytes(), mediaType);
      return new ServedManifest(raw.bytes(), mediaType, raw.digest(), false);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
  }

  /**
   * Joins the upstream lookup running for {@code key}, or starts one on the io pool: concurrent requests
   * for one tag or manifest share one upstream request (Docker Hub counts manifest GETs as pulls). The
   * entry leaves the cache when the lookup completes; the tag and content stores answer after that.
   */
  @SuppressWarnings("unchecked")
  private <T> CompletableFuture<T> singleFlight(Object key, Supplier<T> fetch) {
    CompletableFuture<Object> f = lookups.get(key, (k, ex) -> ScheduledRetries.supplyAsync(fetch::get, io));
    f.whenComplete((v, e) -> lookups.asMap().remove(key, f));
    return (CompletableFuture<T>) f;
  }

  /** Applies the route's rule to an upstream document. */
  private CompletableFuture<ServedManifest> produce(Route route, ServedManifest source) {
    SquashRule rule = route.rule();
    if (rule.mode() == SquashRule.Mode.OFF) {
      return CompletableFuture.completedFuture(source);
    }
    SquashKey key = new SquashKey(route.upstream().name(), route.repository(), source.digest(), rule);
    if (MediaTypes.isIndex(source.mediaType())) {
      // Runs on the io pool: it waits for the per-platform squashes, which run on the squash pool.
      return squashes.get(key, (k, ex) -> CompletableFuture.supplyAsync(() -> squashIndex(route, source), io));
    }
    if (!isImageManifest(source.mediaType())) {
      return CompletableFuture.completedFuture(source);
    }
    return squashes.get(key, (k, ex) -> CompletableFuture.supplyAsync(() -> squashImage(route, source, null),
        squashPool));
  }

  private static boolean isImageManifest(String mediaType) {
    return MediaTypes.DOCKER_MANIFEST.equals(mediaType) || MediaTypes.OCI_MANIFEST.equals(mediaType);
  }

  private ServedManifest squashIndex(Route route, ServedManifest source) {
    ImageIndex index;
    try {
      index = ImageIndex.parse(source.bytes());
    } catch (InvalidImageException e) {
      LOG.warn("{}@{}: passing through an index we cannot read: {}", route.clientName(), source.digest(),
          e.getMessage());
      return source;
    }
    List<CompletableFuture<Descriptor>> entries = new ArrayList<>();
    for (Descriptor d : index.manifests()) {
      entries.add(squashEntry(route, d));
    }
    List<Descriptor> replaced = entries.stream().map(CompletableFuture::join).toList();
    if (replaced.equals(index.manifests())) {
      return source;
    }
    int[] i = {0};
    byte[] bytes = index.rewrite(d -> replaced.get(i[0]++));
    try {
      Digest digest = store.putManifest(bytes, source.mediaType());
      SquashRecord held = records.put(new SquashRecord(digest, route.upstream().name(), route.repository(),
          source.digest(), "index " + ruleText(route.rule()), 0, 0, 0, 0, List.of()));
      if (!held.manifest().equals(digest)) {
        Optional<StoredManifest> first = store.manifest(held.manifest());
        if (first.isPresent()) {
          return new ServedManifest(first.get().bytes(), first.get().mediaType(), held.manifest(), false);
        }
      }
      return new ServedManifest(bytes, source.mediaType(), digest, false);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
  }

  /**
   * One index entry: platforms the rule selects are squashed; attestations ({@code unknown/unknown}, which
   * describe the original image by its digest) and everything else keep their original digests.
   */
  private CompletableFuture<Descriptor> squashEntry(Route route, Descriptor d) {
    JsonNode platform = d.json().path("platform");
    String os = platform.path("os").asText("");
    String arch = platform.path("architecture").asText("");
    boolean attestation = "unknown".equals(os) && "unknown".equals(arch);
    if (attestation || !isImageManifest(d.mediaType())
        || !route.rule().selectsPlatform(os, arch, platform.path("variant").asText(""))) {
      return CompletableFuture.completedFuture(d);
    }
    return sourceManifest(route, d.digest())
        .thenCompose(child -> {
          SquashKey key = new SquashKey(route.upstream().name(), route.repository(), child.digest(), route.rule());
          return squashes.get(key, (k, ex) -> CompletableFuture.supplyAsync(
              () -> squashImage(route, child, platform), squashPool));
        })
        .thenApply(squashed -> {
          if (squashed.digest().equals(d.digest())) {
            return d;
          }
          ObjectNode json = d.json().deepCopy();
          json.put("mediaType", squashed.mediaType());
          json.put("digest", squashed.digest().toString());
          json.put("size", squashed.bytes().length);
          return new Descriptor(squashed.mediaType(), squashed.digest(), squashed.bytes().length, json);
        });
  }

  private ServedManifest squashImage(Route route, ServedManifest source, JsonNode platform) {
    ImageManifest manifest;
    try {
      manifest = ImageManifest.parse(source.bytes());
    } catch (io.squashproxy.core.image.NotAnImageException e) {
      return source; // schema 1, artifacts, Helm charts and the like pass through
    } catch (InvalidImageException e) {
      throw BrokenImages.refused(route, source.digest(), e); // a negative size, no layers, ...: never served
    }
    long declared = BrokenImages.declaredSize(manifest);
    if (declared > maxUncompressedBytes) {
      // Checked before downloading anything: the layers alone would pass limits.maxImageSize.
      stats.squashFailures.increment();
      LOG.warn("not squashing {}@{}: its layers declare {} bytes, over limits.maxImageSize ({} bytes)",
          route.canonicalName(), source.digest(), declared, maxUncompressedBytes);
      return source;
    }
    // Options known before any blob is read (all modes but base): look for a squash another replica (or this
    // one before a restart) made, and claim the squash before fetching layers, so that replicas racing for
    // one cold image do not all fetch its layers upstream.
    SquashLeases.Lease lease = null;
    try {
      if (route.rule().mode() != SquashRule.Mode.BASE) {
        String early = options(route, manifest, platform).describe();
        Optional<ServedManifest> published = published(route, source, early);
        if (published.isPresent()) {
          return published.get();
        }
        lease = claim(route, source, early);
        if (lease.publishedElsewhere()) {
          published = published(route, source, early);
          if (published.isPresent()) {
            return published.get();
          }
        }
      }
      // Everything the squash reads is fetched (and verified) first, in parallel: an upstream failure then
      // fails the request instead of being mistaken for a broken image.
      List<CompletableFuture<StoredBlob>> fetches = new ArrayList<>();
      fetches.add(ensureBlob(route, manifest.config().digest()));
      manifest.layers().forEach(l -> fetches.add(ensureBlob(route, l.digest())));
      CompletableFuture.allOf(fetches.toArray(CompletableFuture[]::new)).join();

      SquashOptions options = options(route, manifest, platform);
      String optionsText = options.describe();
      Optional<ServedManifest> done = published(route, source, optionsText);
      if (done.isPresent()) {
        return done.get();
      }
      if (lease == null) {
        lease = claim(route, source, optionsText);
        if (lease.publishedElsewhere()) {
          done = published(route, source, optionsText);
          if (done.isPresent()) {
            return done.get();
          }
        }
      }
      return squashNow(route, source, options, optionsText);
    } finally {
      if (lease != null) {
        lease.close();
      }
    }
  }

  private SquashLeases.Lease claim(Route route, ServedManifest source, String optionsText) {
    return leases.claim(SquashRecords.sourceKey(route.upstream().name(), route.repository(), source.digest(),
        optionsText), () -> published(route, source, optionsText).isPresent());
  }

  /** A squash of this source with these options that was made and stored before, here or by a replica. */
  private Optional<ServedManifest> published(Route route, ServedManifest source, String optionsText) {
    Optional<SquashRecord> done = records.bySource(route.upstream().name(), route.repository(),
        source.digest(), optionsText);
    if (done.isPresent() && done.get().blobs().stream().allMatch(store::hasBlob)) {
      try {
        Optional<StoredManifest> m = store.manifest(done.get().manifest());
        if (m.isPresent()) {
          return Optional.of(new ServedManifest(m.get().bytes(), m.get().mediaType(), m.get().digest(), false));
        }
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }
    return Optional.empty();
  }

  private ServedManifest squashNow(Route route, ServedManifest source, SquashOptions options,
      String optionsText) {
    stats.squashesInFlight.increment();
    try {
      SquashResult result = new Squasher(new SquashProgressLog(route.canonicalName() + "@" + source.digest()),
          CompressionPool.shared(), indexes).squash(source.bytes(), this::openStoredBlob, options, store.tmpDir());
      if (!result.squashed()) {
        rememberUnchanged(route, source, optionsText, result.report());
        return source;
      }
      try {
        store.putBlob(result.configDigest(), result.config());
        store.adoptVerified(result.squashedLayer().digest(), result.squashedLayerFile());
        Digest digest = store.putManifest(result.manifest(), result.manifestMediaType());
        var report = result.report();
        SquashRecord held = records.put(new SquashRecord(digest, route.upstream().name(), route.repository(),
            source.digest(), optionsText, report.layersBefore(), report.layersAfter(),
            report.compressedBytesBefore(), report.compressedBytesAfter(),
            List.of(result.configDigest(), result.squashedLayer().digest()), report.layersAfter() - 1,
            wasted(report)));
        stats.squashes.increment();
        if (!report.onePass()) {
          stats.twoPassSquashes.increment();
        }
        stats.squashBytesIn.add(report.compressedBytesBefore());
        stats.squashBytesOut.add(report.compressedBytesAfter());
        stats.squashTook(report.elapsed());
        LOG.info("squashed {}@{} -> {}: {}", route.canonicalName(), source.digest(), digest, report.summary());
        if (!held.manifest().equals(digest)) {
          // Another replica published its squash of this source first: serve that one, as all replicas do.
          Optional<StoredManifest> first = store.manifest(held.manifest());
          if (first.isPresent()) {
            return new ServedManifest(first.get().bytes(), first.get().mediaType(), held.manifest(), false);
          }
        }
        return new ServedManifest(result.manifest(), result.manifestMediaType(), digest, false);
      } finally {
        result.deleteLayerFile();
      }
    } catch (io.squashproxy.core.squash.SquashException e) {
      failIfStorageFull(e);
      stats.squashFailures.increment();
      if (!e.unsupported()) {
        // Corrupt or truncated layers, digest or diff_id mismatches, names escaping the root: no client can
        // use the image, and serving it would pass the problem on as if it were fine.
        throw BrokenImages.refused(route, source.digest(), e);
      }
      // The image is valid but not something we can merge faithfully: serve it as it is.
      LOG.warn("not squashing {}@{}: {}", route.canonicalName(), source.digest(), e.getMessage());
      return source;
    } catch (io.squashproxy.core.image.NotAnImageException e) {
      stats.squashFailures.increment();
      LOG.warn("not squashing {}@{}: {}", route.canonicalName(), source.digest(), e.getMessage());
      return source;
    } catch (InvalidImageException e) {
      // A broken config (no rootfs, diff_ids that do not match the layers, not JSON): refused.
      stats.squashFailures.increment();
      throw BrokenImages.refused(route, source.digest(), e);
    } catch (IOException e) {
      stats.squashFailures.increment();
      throw new CompletionException(e);
    } finally {
      stats.squashesInFlight.decrement();
    }
  }

  /**
   * An image the rule leaves as it is ({@code auto} found nothing wasted): recorded as a squash whose result is
   * the source itself, so the decision is not made again on every pull or after a restart, and the status page
   * lists the image.
   */
  private void rememberUnchanged(Route route, ServedManifest source, String optionsText,
      io.squashproxy.core.squash.SquashReport report) throws IOException {
    records.put(new SquashRecord(source.digest(), route.upstream().name(), route.repository(), source.digest(),
        optionsText, report.layersBefore(), report.layersAfter(), report.compressedBytesBefore(),
        report.compressedBytesAfter(), List.of(), report.layersAfter(), Math.max(0, report.wastedBytes())));
    LOG.info("kept {}@{} as it is: {}", route.canonicalName(), source.digest(), report.summary());
  }

  /** Waste found: what the analysis measured, else the uncompressed bytes the squash removed. */
  private static long wasted(io.squashproxy.core.squash.SquashReport report) {
    return report.wastedBytes() >= 0 ? report.wastedBytes()
        : Math.max(0, report.uncompressedBytesBefore() - report.uncompressedBytesAfter());
  }

  /**
   * A squash that failed because the work directory filled up fails the request instead of passing the image
   * through as one we cannot merge (the squasher reports a failed spool write as an unreadable layer).
   */
  private void failIfStorageFull(IOException e) {
    if (StorageFull.causedBy(e)) {
      stats.squashFailures.increment();
      throw new CompletionException(e);
    }
  }

  private java.io.InputStream openStoredBlob(Digest d) throws IOException {
    StoredBlob b = store.blob(d).orElseThrow(() -> new IOException("blob " + d + " left the cache"));
    return Files.newInputStream(b.path());
  }

  private SquashOptions options(Route route, ImageManifest manifest, JsonNode platform) {
    SquashRule rule = route.rule();
    if (rule.mode() == SquashRule.Mode.AUTO) {
      return SquashPathLimit.applied(SquashOptions.auto(rule.slack(), rule.compression(), maxUncompressedBytes));
    }
    int keep = switch (rule.mode()) {
      case KEEP -> rule.keepLayers();
      case BASE -> sharedLayers(route, manifest, platform);
      default -> 0;
    };
    return SquashPathLimit.applied(new SquashOptions(keep, rule.compression(), maxUncompressedBytes));
  }

  /** How many leading layers the image shares with the rule's base image (same platform). */
  private int sharedLayers(Route route, ImageManifest manifest, JsonNode platform) {
    String base = route.rule().baseImage();
    int at = base.lastIndexOf('@');
    int colon = base.lastIndexOf(':');
    String name;
    String ref;
    if (at > 0) {
      name = base.substring(0, at);
      ref = base.substring(at + 1);
    } else if (colon > base.lastIndexOf('/')) {
      name = base.substring(0, colon);
      ref = base.substring(colon + 1);
    } else {
      name = base;
      ref = "latest";
    }
    try {
      Route baseRoute = upstreams.resolve(name, null);
      // On a squash worker: waiting for the io pool here is fine.
      ServedManifest m = Names.isDigest(ref) ? sourceManifest(baseRoute, Digest.parse(ref)).join()
          : sourceManifest(baseRoute, resolveTag(baseRoute, ref).join().record.digest()).join();
      if (MediaTypes.isIndex(m.mediaType())) {
        JsonNode p = platform != null ? platform : platformOf(manifest);
        Descriptor match = null;
        for (Descriptor d : ImageIndex.parse(m.bytes()).manifests()) {
          JsonNode dp = d.json().path("platform");
          if (dp.path("os").asText().equals(p.path("os").asText())
              && dp.path("architecture").asText().equals(p.path("architecture").asText())) {
            match = d;
            break;
          }
        }
        if (match == null) {
          return 0;
        }
        m = sourceManifest(baseRoute, match.digest()).join();
      }
      List<Descriptor> baseLayers = ImageManifest.parse(m.bytes()).layers();
      int n = 0;
      while (n < baseLayers.size() && n < manifest.layers().size()
          && baseLayers.get(n).digest().equals(manifest.layers().get(n).digest())) {
        n++;
      }
      return n;
    } catch (IOException | RuntimeException e) {
      LOG.warn("base image {} of rule {} unavailable ({}); squashing all layers", base, route.rule().glob(),
          e.getMessage());
      return 0;
    }
  }

  private JsonNode platformOf(ImageManifest manifest) throws IOException {
    StoredBlob config = store.blob(manifest.config().digest()).orElseThrow();
    ImageConfig c = ImageConfig.parse(Files.readAllBytes(config.path()));
    ObjectNode p = ImageJson.MAPPER.createObjectNode();
    p.put("os", c.json().path("os").asText());
    p.put("architecture", c.json().path("architecture").asText());
    return p;
  }

  private static String ruleText(SquashRule rule) {
    return rule.mode() + " keep=" + rule.keepLayers() + " base=" + rule.baseImage() + " compression="
        + rule.compression() + " platforms=" + rule.platforms()
        + (rule.slack() == null ? "" : " slack=" + rule.slack().describe());
  }

  private interface UpstreamCall<T> {
    T call() throws IOException;
  }

  private <T> T timed(String type, String method, UpstreamCall<T> call) throws IOException {
    long started = System.nanoTime();
    boolean ok = false;
    try {
      T result = call.call();
      ok = true;
      return result;
    } finally {
      stats.upstreamTook(type, method, ok, System.nanoTime() - started);
    }
  }

  /** The blob in the local store, downloading it once however many ask at the same time. */
  CompletableFuture<StoredBlob> ensureBlob(Route route, Digest digest) {
    Optional<StoredBlob> local = store.blob(digest);
    if (local.isPresent()) {
      return CompletableFuture.completedFuture(local.get());
    }
    BlobKey key = new BlobKey(route.upstream().name(), route.repository(), digest);
    return downloads.get(key, (k, ex) -> ScheduledRetries.supplyAsync(() -> download(route, digest), io));
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
