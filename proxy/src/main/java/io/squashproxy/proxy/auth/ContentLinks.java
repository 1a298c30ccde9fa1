package io.squashproxy.proxy.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.store.LinkStore;
import io.squashproxy.proxy.store.LinkStore.Link;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which digests each repository may be served, so that the content-addressed cache does not hand out
 * through repository A what was fetched (with the proxy's upstream credentials) from repository B.
 *
 * <p>A link {@code (upstream, repository, digest)} is made when a manifest is served for that repository (its
 * own digest and every digest it references: config, layers, index entries, subject), so a normal pull
 * (tag, then digests) never needs more. A request by digest without a link is confirmed upstream first, in
 * that repository, with the proxy's credentials: a manifest {@code HEAD}, or a blob {@code GET} closed after
 * the headers; for a digest the proxy made by squashing, the upstream repository must hold the image it was
 * made from. Links live in memory (bounded, least recently used dropped) and, with a {@link LinkStore}, on
 * disk and in the shared bucket, so a restart or another replica does not need upstream for content already
 * served through the repository: the memory is loaded from disk at start, and a link this replica lacks is
 * looked up in the bucket before upstream. A lost link costs one upstream request, never a wrong answer.
 */
public final class ContentLinks {
  private static final Logger LOG = LoggerFactory.getLogger(ContentLinks.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Where the proxy made a digest from (its squash records), if it made it. */
  public interface Origins {
    Optional<Origin> of(Digest digest);
  }

  /** A squashed manifest or blob: made from {@code source} in {@code repository} of {@code upstream}. */
  public record Origin(String upstream, String repository, Digest source) {}

  private final Cache<String, Boolean> links;
  private final Origins origins;
  private final Executor io;
  /** Null: links live in memory only. */
  private final LinkStore store;

  public ContentLinks(Origins origins, Executor io, long maxLinks) {
    this(origins, io, maxLinks, null);
  }

  /** @param store where links outlive the process (and are shared between replicas); null for memory only */
  public ContentLinks(Origins origins, Executor io, long maxLinks, LinkStore store) {
    this.origins = origins;
    this.io = io;
    this.store = store;
    this.links = Caffeine.newBuilder().maximumSize(maxLinks).executor(Runnable::run).build();
  }

  /** Loads the links kept on disk. */
  public ContentLinks open() throws IOException {
    if (store != null) {
      for (Link l : store.open()) {
        links.put(key(l.upstream(), l.repository(), l.digest()), Boolean.TRUE);
      }
    }
    return this;
  }

  private static String key(String upstream, String repository, String digest) {
    return upstream + '\n' + repository + '\n' + digest;
  }

  private static String key(Route route, String digest) {
    return key(route.upstream().name(), route.repository(), digest);
  }

  public boolean isLinked(Route route, Digest digest) {
    return links.getIfPresent(key(route, digest.toString())) != null;
  }

  public void link(Route route, String digest) {
    List<Link> made = new ArrayList<>();
    linkInMemory(route, digest, made);
    persist(made);
  }

  /** Adds the link to memory; {@code made} collects it when it is new here, to be stored. */
  private void linkInMemory(Route route, String digest, List<Link> made) {
    String key = key(route, digest);
    if (links.getIfPresent(key) == null) {
      links.put(key, Boolean.TRUE);
      made.add(new Link(route.upstream().name(), route.repository(), digest));
    }
  }

  /** Stores new links on the io pool: callers run on event loops. */
  private void persist(List<Link> made) {
    if (store == null || made.isEmpty()) {
      return;
    }
    try {
      io.execute(() -> {
        try {
          store.add(made);
        } catch (IOException | RuntimeException e) {
          LOG.warn("could not store {} repository links: {}", made.size(), e.getMessage());
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      LOG.warn("not storing {} repository links: the io pool is full or shut down", made.size());
    }
  }

  /** Links a served manifest's own digest and every digest its JSON references. */
  public void linkManifest(Route route, String digest, byte[] json) {
    List<Link> made = new ArrayList<>();
    if (digest != null) {
      linkInMemory(route, digest, made);
    }
    if (json != null && json.length > 0) {
      try {
        JsonNode root = JSON.readTree(json);
        linkDescriptor(route, root.path("config"), made);
        linkDescriptor(route, root.path("subject"), made);
        for (String list : new String[] {"layers", "manifests", "blobs"}) {
          for (JsonNode d : root.path(list)) {
            linkDescriptor(route, d, made);
          }
        }
      } catch (IOException e) {
        // Not JSON (or schema 1 with a signature block we do not need): its digest is linked, that is all.
      }
    }
    persist(made);
  }

  private void linkDescriptor(Route route, JsonNode d, List<Link> made) {
    String digest = d.path("digest").asText("");
    if (digest.contains(":")) {
      linkInMemory(route, digest, made);
    }
    // Schema 1 lists blobs as fsLayers[].blobSum; it is handled by the upstream check instead.
  }

  /**
   * Whether the route's upstream repository holds {@code digest} (asked upstream, on the io pool); links it
   * when it does. Fails with the upstream's error when upstream cannot answer.
   */
  public CompletableFuture<Boolean> confirm(Route route, Digest digest, boolean manifest) {
    // A read, safe to run again: a retry's pause (a 429's Retry-After) holds no io thread.
    return ScheduledRetries.supplyAsync(() -> {
      try {
        if (store != null && store.sharedHas(new Link(route.upstream().name(), route.repository(),
            digest.toString()))) {
          links.put(key(route, digest.toString()), Boolean.TRUE); // another replica made it: already shared
          return true;
        }
        boolean held = holds(route, digest, manifest);
        if (held) {
          link(route, digest.toString());
        } else {
          LOG.info("refused {} {} through {}: not part of that repository upstream",
              manifest ? "manifest" : "blob", digest, route.canonicalName());
        }
        return held;
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, io);
  }

  private boolean holds(Route route, Digest digest, boolean manifest) throws IOException {
    Upstream up = route.upstream();
    Optional<Origin> made = origins.of(digest);
    if (made.isPresent()) {
      Origin o = made.get();
      if (o.upstream().equals(up.name()) && o.repository().equals(route.repository())) {
        return true;
      }
      return up.headManifest(route.repository(), o.source().toString()).isPresent();
    }
    if (manifest) {
      return up.headManifest(route.repository(), digest.toString()).isPresent();
    }
    // The interface has no blob HEAD: open the GET and close it after the headers.
    Optional<Upstream.BlobStream> blob = up.blob(route.repository(), digest);
    if (blob.isPresent()) {
      blob.get().close();
      return true;
    }
    return false;
  }
}
