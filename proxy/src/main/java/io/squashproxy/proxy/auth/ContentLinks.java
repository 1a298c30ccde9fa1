package io.squashproxy.proxy.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
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
 * made from. Links live in memory (bounded, least recently used dropped): a lost link costs one upstream
 * request, never a wrong answer.
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

  public ContentLinks(Origins origins, Executor io, long maxLinks) {
    this.origins = origins;
    this.io = io;
    this.links = Caffeine.newBuilder().maximumSize(maxLinks).executor(Runnable::run).build();
  }

  private static String key(Route route, String digest) {
    return route.upstream().name() + '\n' + route.repository() + '\n' + digest;
  }

  public boolean isLinked(Route route, Digest digest) {
    return links.getIfPresent(key(route, digest.toString())) != null;
  }

  public void link(Route route, String digest) {
    links.put(key(route, digest), Boolean.TRUE);
  }

  /** Links a served manifest's own digest and every digest its JSON references. */
  public void linkManifest(Route route, String digest, byte[] json) {
    if (digest != null) {
      link(route, digest);
    }
    if (json == null || json.length == 0) {
      return;
    }
    try {
      JsonNode root = JSON.readTree(json);
      linkDescriptor(route, root.path("config"));
      linkDescriptor(route, root.path("subject"));
      for (String list : new String[] {"layers", "manifests", "blobs"}) {
        for (JsonNode d : root.path(list)) {
          linkDescriptor(route, d);
        }
      }
    } catch (IOException e) {
      // Not JSON (or schema 1 with a signature block we do not need): its digest is linked, that is all.
    }
  }

  private void linkDescriptor(Route route, JsonNode d) {
    String digest = d.path("digest").asText("");
    if (digest.contains(":")) {
      link(route, digest);
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
