package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.image.ImageJson;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** One image of a docker-archive's manifest.json: its config file, tags and layer files, in order. */
record DockerArchiveManifest(String config, List<String> repoTags, List<String> layers) {
  static final String FILE = "manifest.json";

  DockerArchiveManifest {
    repoTags = List.copyOf(repoTags);
    layers = List.copyOf(layers);
  }

  /** Parses manifest.json; paths come back normalised and checked to stay inside the archive. */
  static List<DockerArchiveManifest> parse(ArchiveFiles files) throws IOException {
    byte[] bytes = Blobs.readDocument(files, FILE);
    JsonNode root;
    try {
      root = ImageJson.MAPPER.readTree(bytes);
    } catch (IOException e) {
      throw new LayoutException(files.describe(FILE) + ": not valid JSON: " + TarFiles.message(e), e);
    }
    if (root == null || !root.isArray() || root.isEmpty()) {
      throw new LayoutException(files.describe(FILE) + ": expected a non-empty array of images");
    }
    List<DockerArchiveManifest> images = new ArrayList<>();
    for (int i = 0; i < root.size(); i++) {
      images.add(parseOne(files, root.get(i), "image " + i));
    }
    return images;
  }

  private static DockerArchiveManifest parseOne(ArchiveFiles files, JsonNode node, String what)
      throws LayoutException {
    String where = files.describe(FILE) + ": " + what;
    if (!node.isObject()) {
      throw new LayoutException(where + " is not an object");
    }
    String config = path(node.get("Config"), where + " Config");
    List<String> tags = new ArrayList<>();
    JsonNode tagsNode = node.path("RepoTags");
    if (!tagsNode.isMissingNode() && !tagsNode.isNull()) {
      if (!tagsNode.isArray()) {
        throw new LayoutException(where + " RepoTags is not an array");
      }
      for (JsonNode t : tagsNode) {
        if (!t.isTextual()) {
          throw new LayoutException(where + " RepoTags holds a non-string");
        }
        tags.add(t.asText());
      }
    }
    JsonNode layersNode = node.get("Layers");
    if (layersNode == null || !layersNode.isArray()) {
      throw new LayoutException(where + " lacks a Layers array");
    }
    List<String> layers = new ArrayList<>();
    for (int i = 0; i < layersNode.size(); i++) {
      layers.add(path(layersNode.get(i), where + " Layers[" + i + "]"));
    }
    return new DockerArchiveManifest(config, tags, layers);
  }

  private static String path(JsonNode node, String what) throws LayoutException {
    if (node == null || !node.isTextual()) {
      throw new LayoutException(what + " is missing or not a string");
    }
    String clean = ArchiveFiles.normalize(node.asText());
    if (clean == null || clean.isEmpty()) {
      throw new LayoutException(what + " '" + node.asText() + "' is not a path inside the archive");
    }
    return clean;
  }

  /** How the image is named in messages: its tags, or the image ID docker would show. */
  String name(io.squashproxy.core.digest.Digest configDigest) {
    return repoTags.isEmpty() ? configDigest.toString().substring(0, 19) : String.join(", ", repoTags);
  }
}
