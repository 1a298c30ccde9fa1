package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.Upstream.RawManifest;
import io.squashproxy.proxy.upstream.Upstream.ReferrersPage;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Function;

/**
 * The referrers of a manifest (OCI distribution spec 1.1, "Listing Referrers"), pull side: upstream's
 * referrers API; where upstream has none (it answers 404), the index upstream keeps under the referrers tag
 * schema's fallback tag {@code <alg>-<hex>}, as pushing clients write it there; where neither exists, an
 * empty index (the API answers 200 for any digest). An {@code artifactType} filter is applied here whatever
 * upstream did, so the answer always says {@code OCI-Filters-Applied: artifactType} when one was asked for.
 *
 * <p>A squashed manifest has no referrers of its own: signatures and SBOMs are made for, and name as their
 * subject, the image as it was pushed. The referrers of a squashed digest are therefore those of the source
 * manifest it was squashed from ({@code subjectOf}).
 */
public final class Referrers {
  /** The answer: an image index, whether a filter was applied, and upstream's pagination link (or null). */
  public record Listing(byte[] index, boolean filtered, String link) {}

  private final Executor io;
  /** The manifest whose referrers a requested digest has: the source of a squashed one, else itself. */
  private final Function<Digest, Digest> subjectOf;

  Referrers(Executor io, Function<Digest, Digest> subjectOf) {
    this.io = io;
    this.subjectOf = subjectOf;
  }

  CompletableFuture<Listing> list(Route route, Digest digest, String artifactType) {
    return ScheduledRetries.supplyAsync(() -> {
      try {
        return listNow(route, subjectOf.apply(digest), artifactType);
      } catch (IOException e) {
        throw new CompletionException(e);
      }
    }, io);
  }

  private Listing listNow(Route route, Digest subject, String artifactType) throws IOException {
    Upstream up = route.upstream();
    Optional<ReferrersPage> page = up.referrers(route.repository(), subject, artifactType);
    if (page.isPresent()) {
      return new Listing(filtered(index(page.get().body(), up, "the referrers of " + subject), artifactType),
          artifactType != null, page.get().link());
    }
    Optional<RawManifest> tagged = up.manifest(route.repository(), fallbackTag(subject));
    if (tagged.isEmpty()) {
      return new Listing(ImageJson.write(emptyIndex()), artifactType != null, null);
    }
    return new Listing(filtered(index(tagged.get().bytes(), up, "the index at " + fallbackTag(subject)),
        artifactType), artifactType != null, null);
  }

  /** The referrers tag schema's tag for {@code subject}: {@code <alg>-<ref>}, truncated to 32 and 64. */
  static String fallbackTag(Digest subject) {
    String alg = subject.algorithm();
    String hex = subject.hex();
    return alg.substring(0, Math.min(32, alg.length())) + "-" + hex.substring(0, Math.min(64, hex.length()));
  }

  private static ObjectNode index(byte[] body, Upstream up, String what) throws UpstreamException {
    try {
      ObjectNode index = ImageJson.parseObject(body, what);
      if (!index.path("manifests").isArray()) {
        throw new InvalidImageException(what + " has no manifests array");
      }
      return index;
    } catch (InvalidImageException e) {
      // Upstream's own document is broken: its fault (502), as with a manifest that fails its digest.
      throw new UpstreamException(502, up.name() + " sent a broken referrers list: " + e.getMessage(), null, e);
    }
  }

  /** The index with only the descriptors of {@code artifactType} (all of them for null), as the API sends. */
  private static byte[] filtered(ObjectNode index, String artifactType) {
    ObjectNode out = emptyIndex();
    ArrayNode manifests = (ArrayNode) out.get("manifests");
    for (JsonNode d : index.get("manifests")) {
      if (artifactType == null || artifactType.equals(d.path("artifactType").asText(null))) {
        manifests.add(d);
      }
    }
    if (index.has("annotations")) {
      out.set("annotations", index.get("annotations"));
    }
    return ImageJson.write(out);
  }

  private static ObjectNode emptyIndex() {
    ObjectNode index = ImageJson.MAPPER.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", MediaTypes.OCI_INDEX);
    index.putArray("manifests");
    return index;
  }
}
