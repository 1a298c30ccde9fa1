package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
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
 * index has the platforms its rule selects squashed, anything else passes through. {@link
 * #produceWithinWait} is the same for a pull by tag, which waits at most the rule's {@code wait} for a
 * squash that has real work to do, then gets the original (the squash goes on in the background, from the
 * same downloads, tracked in {@link BackgroundSquashes}).
 *
 * <p>Contracts:
 * <ul>
 *   <li>One squash per (upstream, repository, source digest, rule) however many ask: concurrent requests
 *       share one {@link Squash} in a Caffeine cache; a failed squash is not kept.
 *   <li>Each image squash first looks for a squash published before ({@link #known}, on the io pool), so
 *       a squashed image is served at once even with {@code wait: 0s}, even after a restart; only when
 *       there is work to do does it take a place on the squash pool and the wait begin.
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
  private final SquashLimits limits;
  private final long maxUncompressedBytes;
  private final ProxyStats stats;
  private final BackgroundSquashes background;
  private final RefusedImages refused;
  private final Cache<SquashKey, Squash> squashes;

  /**
   * A squash under way or done: its result, a signal that it has real work to do (completed when no
   * squash of the source was published before), and its entry for {@link BackgroundSquashes}.
   */
  record Squash(CompletableFuture<ServedManifest> result, CompletableFuture<Void> working,
      BackgroundSquashes.Task task) {}

  /** What one squash is of: the same key always gives the same squashed bytes. */
  record SquashKey(String upstream, String repository, Digest source, SquashRule rule) {
    static SquashKey of(Route route, Digest source) {
      return new SquashKey(route.upstream().name(), route.repository(), source, route.rule());
    }
  }

  SquashOrchestrator(TagResolver resolver, BlobFetcher blobs, SquashRunner runner, BaseImageLayers baseLayers,
      Storage store, SquashRecords records, SquashLeases leases, Executor io, Executor squashPool,
      SquashLimits limits, ProxyStats stats, BackgroundSquashes background, RefusedImages refused) {
    this.refused = refused;
    this.resolver = resolver;
    this.blobs = blobs;
    this.runner = runner;
    this.baseLayers = baseLayers;
    this.store = store;
    this.records = records;
    this.leases = leases;
    this.io = io;
    this.squashPool = squashPool;
    this.limits = limits;
    this.maxUncompressedBytes = limits.maxUncompressedBytes();
    this.stats = stats;
    this.background = background;
    // Completed entries only need to outlive the requests racing for them; the store keeps the results.
    this.squashes = Caffeine.newBuilder().expireAfterWrite(Duration.ofMinutes(10)).maximumSize(10_000)
        .executor(io).build();
  }

  /**
   * Drops the squash of {@code source} this instance remembers, so the next {@link #produce} squashes again
   * (its output was evicted since: cache.maxSize or cache.minFreeSpace).
   */
  void forget(Route route, ServedManifest source) {
    squashes.invalidate(SquashKey.of(route, source.digest()));
  }

  /** Applies the route's rule to an upstream document: completes with the squashed document. */
  CompletableFuture<ServedManifest> produce(Route route, ServedManifest source) {
    Squash s = squash(route, source);
    return s == null ? CompletableFuture.completedFuture(source) : s.result();
  }

  /**
   * {@link #produce}, waiting at most the rule's {@code wait} once the squash has work to do; past it, the
   * source {@link ServedManifest#asSquashPending marked pending}, and the squash goes on.
   */
  CompletableFuture<ServedManifest> produceWithinWait(Route route, ServedManifest source) {
    Squash s = squash(route, source);
    return s == null ? CompletableFuture.completedFuture(source) : SquashWait.within(s, route, source, io);
  }

  /** The squash of this document under the route's rule, joined or started; null when none applies. */
  private Squash squash(Route route, ServedManifest source) {
    if (route.rule().mode() == SquashRule.Mode.OFF) {
      return null;
    }
    SquashKey key = SquashKey.of(route, source.digest());
    if (MediaTypes.isIndex(source.mediaType())) {
      // Runs on the io pool: it waits for the per-platform squashes, which run on the squash pool.
      return joinOrStart(key, k -> start(k, route, source, (working, task) -> CompletableFuture.supplyAsync(
          () -> {
            task.running();
            return squashIndex(route, source, working);
          }, io)));
    }
    if (!isImageManifest(source.mediaType())) {
      return null;
    }
    return joinOrStart(key, k -> startImage(k, route, source, null));
  }

  /**
   * The squash running or done for {@code key}, else a new one. A squash that failed before it was even in the
   * cache (a refusal remembered, answered at once) could not remove itself: it is dropped here, so only this
   * caller gets that failure and the next one starts again.
   */
  private Squash joinOrStart(SquashKey key, java.util.function.Function<SquashKey, Squash> start) {
    Squash s = squashes.get(key, start);
    if (s.result().isCompletedExceptionally()) {
      squashes.asMap().remove(key, s);
    }
    return s;
  }

  private interface Work {
    CompletableFuture<ServedManifest> start(CompletableFuture<Void> working, BackgroundSquashes.Task task);
  }

  private Squash start(SquashKey key, Route route, ServedManifest source, Work work) {
    BackgroundSquashes.Task task = background.submitted(route.canonicalName() + "@" + source.digest());
    CompletableFuture<Void> working = new CompletableFuture<>();
    CompletableFuture<ServedManifest> result = work.start(working, task);
    Squash s = new Squash(result, working, task);
    result.whenComplete((m, e) -> {
      task.finished(e);
      if (e != null) {
        squashes.asMap().remove(key, s); // a failed squash is not kept: the next pull tries again
      }
    });
    return s;
  }

  /** An image: a squash published before (looked for on the io pool), else a squash on the squash pool. */
  private Squash startImage(SquashKey key, Route route, ServedManifest source, JsonNode platform) {
    return start(key, route, source, (working, task) -> CompletableFuture
        .supplyAsync(() -> known(route, source, platform), io)
        .thenCompose(found -> {
          if (found.isPresent()) {
            return CompletableFuture.completedFuture(found.get());
          }
          CompletableFuture<ServedManifest> squashed = CompletableFuture.supplyAsync(() -> {
            task.running();
            // A broken image is remembered: a retry loop does not download and read it again.
            return refused.remembering(route, source.digest(), () -> squashImage(route, source, platform));
          }, squashPool);
          working.complete(null); // after the submission: whoever the wait answers finds it queued
          return squashed;
        }));
  }

  /**
   * What needs no squash worker: a document that is not an image (passed through), a broken one (refused),
   * or a squash of it published before (all modes but base, whose options need the base image). Empty
   * when the image must be squashed. Blocking (the store, the records): on the io pool.
   */
  private Optional<ServedManifest> known(Route route, ServedManifest source, JsonNode platform) {
    ImageManifest manifest;
    try {
      manifest = ImageManifest.parse(source.bytes());
    } catch (NotAnImageException e) {
      return Optional.of(source);
    } catch (InvalidImageException e) {
      throw BrokenImages.refused(route, source.digest(), e);
    }
    if (route.rule().mode() == SquashRule.Mode.BASE
        || BrokenImages.declaredSize(manifest) > maxUncompressedBytes) {
      return Optional.empty(); // squashImage decides, and logs why
    }
    return published(route, source, options(route, manifest, platform).describe());
  }

  private static boolean isImageManifest(String mediaType) {
    return MediaTypes.DOCKER_MANIFEST.equals(mediaType) || MediaTypes.OCI_MANIFEST.equals(mediaType);
  }

  /** @param working completed when one of its platforms has work to do */
  private ServedManifest squashIndex(Route route, ServedManifest source, CompletableFuture<Void> working) {
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
      entries.add(squashEntry(route, d, working));
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
  private CompletableFuture<Descriptor> squashEntry(Route route, Descriptor d, CompletableFuture<Void> working) {
    JsonNode platform = d.json().path("platform");
    String os = platform.path("os").asText("");
    String arch = platform.path("architecture").asText("");
    boolean attestation = "unknown".equals(os) && "unknown".equals(arch);
    if (attestation || !isImageManifest(d.mediaType())
        || !route.rule().selectsPlatform(os, arch, platform.path("variant").asText(""))) {
      return CompletableFuture.completedFuture(d);
    }
    return resolver.sourceManifest(route, d.digest())
        .thenCompose(child -> {
          Squash s = joinOrStart(SquashKey.of(route, child.digest()), k -> startImage(k, route, child, platform));
          s.working().thenRun(() -> working.complete(null));
          return s.result();
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
      // fails the request instead of being mistaken for a broken image. Blobs clients are still streaming
      // (a pull that did not wait for this squash) are taken once those clients are done with them.
      List<CompletableFuture<StoredBlob>> fetches = new ArrayList<>();
      fetches.add(blobs.ensureBlobAfterReaders(route, manifest.config().digest()));
      manifest.layers().forEach(l -> fetches.add(blobs.ensureBlobAfterReaders(route, l.digest())));
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
    if (rule.mode() == SquashRule.Mode.AUTO) {
      return limits.applyTo(SquashOptions.auto(rule.slack(), rule.compression(), maxUncompressedBytes))
          .withPrioritized(rule.prioritized());
    }
    int keep = switch (rule.mode()) {
      case KEEP -> rule.keepLayers();
      case BASE -> baseLayers.sharedLayers(route, manifest, platform);
      default -> 0;
    };
    return limits.applyTo(new SquashOptions(keep, rule.compression(), maxUncompressedBytes))
        .withPrioritized(rule.prioritized());
  }

  private static String ruleText(SquashRule rule) {
    return rule.mode() + " keep=" + rule.keepLayers() + " base=" + rule.baseImage() + " compression="
        + rule.compression() + " platforms=" + rule.platforms()
        + (rule.slack() == null ? "" : " slack=" + rule.slack().describe())
        + (rule.prioritized().isEmpty() ? "" : " prioritized=" + rule.prioritized());
  }
}
