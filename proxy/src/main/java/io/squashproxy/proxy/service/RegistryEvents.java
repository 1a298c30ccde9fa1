package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.registry.Names;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A Distribution registry's notification envelope ({@code application/vnd.docker.distribution.events.v1+json},
 * {@code {"events": [...]}}): the pushed manifests and tags in it. Blob pushes, pulls and deletes are not
 * images to squash and are skipped; a body that is not such an envelope is refused with a message naming
 * what is wrong.
 */
public final class RegistryEvents {
  public static final String MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json";

  private RegistryEvents() {}

  /**
   * An image pushed: its repository as the registry names it, its tag (null for a push by digest) and
   * digest (null when the event names none), and its media type.
   */
  public record Pushed(String repository, String tag, String digest, String mediaType) {}

  /** @throws IllegalArgumentException naming the problem, for a 400 */
  public static List<Pushed> pushes(byte[] body) {
    JsonNode root;
    try {
      root = ImageJson.MAPPER.readTree(body);
    } catch (IOException e) {
      String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage()
          : e.getMessage();
      throw new IllegalArgumentException("the body is not JSON: " + why);
    }
    if (root == null || !root.path("events").isArray()) {
      throw new IllegalArgumentException("expected {\"events\": [...]}");
    }
    List<Pushed> out = new ArrayList<>();
    int i = 0;
    for (JsonNode e : root.path("events")) {
      String where = "events[" + i++ + "]";
      if (!e.isObject()) {
        throw new IllegalArgumentException(where + ": not an object");
      }
      if (!"push".equals(e.path("action").asText())) {
        continue;
      }
      JsonNode t = e.path("target");
      String type = t.path("mediaType").asText("");
      if (!(MediaTypes.isIndex(type) || type.contains("manifest"))) {
        continue; // a blob (application/octet-stream) or a layer
      }
      String repo = t.path("repository").asText("");
      if (!Names.isValidName(repo)) {
        throw new IllegalArgumentException(where + ".target.repository: not a repository name: " + repo);
      }
      String tag = t.path("tag").asText("");
      String digest = t.path("digest").asText("");
      if (!tag.isEmpty() && !Names.isValidTag(tag)) {
        throw new IllegalArgumentException(where + ".target.tag: not a tag: " + tag);
      }
      if (!digest.isEmpty() && !Names.isDigest(digest)) {
        throw new IllegalArgumentException(where + ".target.digest: not a digest: " + digest);
      }
      if (tag.isEmpty() && digest.isEmpty()) {
        throw new IllegalArgumentException(where + ".target: neither a tag nor a digest");
      }
      out.add(new Pushed(repo, tag.isEmpty() ? null : tag, digest.isEmpty() ? null : digest, type));
    }
    return out;
  }
}
