package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageConfig;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * For {@code mode: base}: how many leading layers an image shares with its rule's base image (the same
 * platform's image of an index). Blocking: runs on a squash worker. An unavailable base image counts as
 * sharing nothing, so the image is squashed whole rather than not at all.
 */
final class BaseImageLayers {
  private static final Logger LOG = LoggerFactory.getLogger(BaseImageLayers.class);

  private final Upstreams upstreams;
  private final TagResolver resolver;
  private final Storage store;

  BaseImageLayers(Upstreams upstreams, TagResolver resolver, Storage store) {
    this.upstreams = upstreams;
    this.resolver = resolver;
    this.store = store;
  }

  /**
   * @param platform the index entry's platform, or null for an image pulled alone (read from its config,
   *     which must be in the store)
   */
  int sharedLayers(Route route, ImageManifest manifest, JsonNode platform) {
    String base = route.rule().baseImage();
    Names.Reference parsed = Names.Reference.parse(base);
    String name = parsed.name();
    String ref = parsed.reference();
    try {
      Route baseRoute = upstreams.resolve(name, null);
      // On a squash worker: waiting for the io pool here is fine.
      ServedManifest m = Names.isDigest(ref) ? resolver.sourceManifest(baseRoute, Digest.parse(ref)).join()
          : resolver.sourceManifest(baseRoute, resolver.resolveTag(baseRoute, ref).join().record().digest()).join();
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
        m = resolver.sourceManifest(baseRoute, match.digest()).join();
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
}
