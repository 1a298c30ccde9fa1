package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.store.TagStore.TagRecord;
import io.squashproxy.proxy.upstream.Upstream.ManifestHead;
import io.squashproxy.proxy.upstream.Upstream.RawManifest;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a reference names upstream: a tag resolved to a digest ({@code HEAD}, remembered in the
 * {@link TagStore} with its TTL), and the upstream document with a digest (from the cache, or fetched once
 * and stored byte-exact). Concurrent requests for one tag or digest share one upstream request. When
 * upstream cannot be reached, a tag known before is served {@link ResolvedTag#stale stale}.
 */
final class TagResolver {
  private static final Logger LOG = LoggerFactory.getLogger(TagResolver.class);

  private final Storage store;
  private final TagStore tags;
  private final Executor io;
  private final ProxyStats stats;
  private final SingleFlight lookups;

  private record TagLookup(String tagKey) {}

  private record ManifestLookup(String upstream, String repository, Digest digest) {}

  /** A tag's digest; {@code stale} when upstream could not be asked and the cached answer stands in. */
  record ResolvedTag(TagRecord record, boolean stale) {}

  TagResolver(Storage store, TagStore tags, Executor io, ProxyStats stats) {
    this.store = store;
    this.tags = tags;
    this.io = io;
    this.stats = stats;
    this.lookups = new SingleFlight(io);
  }

  /** The digest a tag names: the tag store's while fresh, else upstream's (one HEAD however many ask). */
  CompletableFuture<ResolvedTag> resolveTag(Route route, String tag) {
    String key = TagStore.key(route.upstream().name(), route.repository(), tag);
    Optional<TagRecord> known = tags.get(key);
    if (known.isPresent() && tags.isFresh(known.get())) {
      return CompletableFuture.completedFuture(new ResolvedTag(known.get(), false));
    }
    return lookups.get(new TagLookup(key), () -> headTag(route, tag, key));
  }

  private ResolvedTag headTag(Route route, String tag, String key) {
    Optional<TagRecord> known = tags.get(key);
    if (known.isPresent() && tags.isFresh(known.get())) {
      return new ResolvedTag(known.get(), false); // another request refreshed it just now
    }
    try {
      stats.upstreamManifestHeads.increment();
      Optional<ManifestHead> head = stats.timed("manifest", "head",
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

  /** The upstream document with this digest, from the cache or fetched (once), verified and stored. */
  CompletableFuture<ServedManifest> sourceManifest(Route route, Digest d) {
    return CompletableFuture.supplyAsync(() -> storedManifest(d), io).thenCompose(local -> local.isPresent()
        ? CompletableFuture.completedFuture(local.get())
        : lookups.get(new ManifestLookup(route.upstream().name(), route.repository(), d),
            () -> fetchManifest(route, d)));
  }

  /** A manifest in the store, by its digest. Blocking. */
  Optional<ServedManifest> storedManifest(Digest d) {
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
      RawManifest raw = stats.timed("manifest", "get",
              () -> route.upstream().manifest(route.repository(), d.toString()))
          .orElseThrow(() -> new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
              "manifest " + route.clientName() + "@" + d + " is not known upstream"));
      String mediaType = MediaTypeSniffer.effective(raw.mediaType(), raw.bytes());
      store.putManifest(raw.bytes(), mediaType);
      return new ServedManifest(raw.bytes(), mediaType, raw.digest(), false);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
  }
}
