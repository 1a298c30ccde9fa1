package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.image.NotAnImageException;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import io.squashproxy.proxy.store.SquashLeases;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.Storage;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a route's rule to an upstream document ({@link #produce}): an image manifest is squashed, an
 * index has the platforms its rule selects squashed, anything else passes through.
 *
 * <p>Contracts:
 * <ul>
 *   <li>One squash per (upstream, repository, source digest, rule) however many ask: concurrent requests
 *       share it through a Caffeine {@link AsyncCache}; a failed squash is not kept.
 *   <li>A squash made before (here, before a restart, or by a replica) is found by its {@link SquashRecord}
 *       and served without fetching anything; replicas racing for one cold image claim it with a
 *       {@link SquashLeases.Lease} so only one fetches its layers.
 *   <li>Every blob the squash reads is fetched and verified first ({@link BlobFetcher}), so an upstream
 *       failure fails the request instead of being mistaken for a broken image.
 *   <li>How a rule becomes {@link SquashOptions}: {@link #options} alone.
 * </ul>
 * Image squashes run on the squash pool, index squashes (which wait for their platforms) on the io pool.
 */
final class SquashOrchestrator {
  private static final Logger LOG = LoggerFactory.getLogger(SquashOrchestrator.class);

  private final TagResolver resolver;
  private final BlobFetcher blobs;
  private final SquashRunner runner;
  private final BaseImageLayers baseLayers;
  private final Storage store;
  private final SquashRecords records;
  private final SquashLeases leases;
  private final Executor io;
  private final Executor squashPool;
  private final long maxUncompressedBytes;
  private final ProxyStats stats;
  private final AsyncCache<SquashKey, ServedManifest> squashes;

  /** What one squash is of: the same key always gives the same squashed bytes. */
  record SquashKey(String upstream, String repository, Digest source, SquashRule rule) {
    static SquashKey of(Route route, Digest source) {
      return new SquashKey(route.upstream().name(), route.repository(), source, route.rule());
    }
  }

  SquashOrchestrator(TagResolver resolver, BlobFetcher blobs, SquashRunner runner, BaseImageLayers baseLayers,
      Storage store, SquashRecords records, SquashLeases leases, Executor io, Executor squashPool,
      long maxUncompressedBytes, ProxyStats stats) {
    this.resolver = resolver;
    this.blobs = blobs;
    this.runner = runner;
    this.baseLayers = baseLayers;
    this.store = store;
    this.records = records;
    this.leases = leases;
    this.io = io;
    this.squashPool = squashPool;
    this.maxUncompressedBytes = maxUncompressedBytes;
    this.stats = stats;
    // Completed entries only need to outlive the requests racing for them; the store keeps the results.
    this.squashes = Caffeine.newBuilder().expireAfterWrite(Duration.ofMinutes(10)).maximumSize(10_000)
        .executor(io).buildAsync();
  }

  /** Applies the route's rule to an upstream document. */
  CompletableFuture<ServedManifest> produce(Route route, ServedManifest source) {
    SquashRule rule = route.rule();
    if (rule.mode() == SquashRule.Mode.OFF) {
      return CompletableFuture.completedFuture(source);
    }
    SquashKey key = SquashKey.of(route, source.digest());
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
    return resolver.sourceManifest(route, d.digest())
        .thenCompose(child -> squashes.get(SquashKey.of(route, child.digest()),
            (k, ex) -> CompletableFuture.supplyAsync(() -> squashImage(route, child, platform), squashPool)))
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

  /** One image: checks, a squash published before, the claim, the blobs, then {@link SquashRunner}. */
  private ServedManifest squashImage(Route route, ServedManifest source, JsonNode platform) {
    ImageManifest manifest;
    try {
      manifest = ImageManifest.parse(source.bytes());
    } catch (NotAnImageException e) {
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
      fetches.add(blobs.ensureBlob(route, manifest.config().digest()));
      manifest.layers().forEach(l -> fetches.add(blobs.ensureBlob(route, l.digest())));
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
      return runner.squashNow(route, source, options, optionsText);
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

  /**
   * How the route's rule becomes {@link SquashOptions} for this image (the one place that decides it).
   * Blocking for {@code mode: base}, which reads the base image.
   */
  private SquashOptions options(Route route, ImageManifest manifest, JsonNode platform) {
    SquashRule rule = route.rule();
    int keep = switch (rule.mode()) {
      case KEEP -> rule.keepLayers();
      case BASE -> baseLayers.sharedLayers(route, manifest, platform);
      default -> 0;
    };
    return new SquashOptions(keep, rule.compression(), maxUncompressedBytes);
  }

  private static String ruleText(SquashRule rule) {
    return rule.mode() + " keep=" + rule.keepLayers() + " base=" + rule.baseImage() + " compression="
        + rule.compression() + " platforms=" + rule.platforms();
  }
}
