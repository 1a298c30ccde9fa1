package io.squashproxy.core.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import java.util.ArrayList;
import java.util.List;

/** A parsed single-image manifest (Docker schema 2 or OCI), keeping its JSON tree for faithful rewriting. */
public record ImageManifest(ImageFamily family, Descriptor config, List<Descriptor> layers, ObjectNode json) {

  public ImageManifest {
    layers = List.copyOf(layers);
  }

  /**
   * Parses manifest bytes.
   *
   * @throws NotAnImageException for valid documents that are not container images (indexes, schema 1,
   *     artifacts); callers pass those through
   * @throws InvalidImageException for documents that are broken
   */
  public static ImageManifest parse(byte[] bytes) throws InvalidImageException {
    ObjectNode json = ImageJson.parseObject(bytes, "manifest");
    JsonNode schema = json.get("schemaVersion");
    String mediaType = json.path("mediaType").asText(null);
    if (schema != null && schema.isInt() && schema.asInt() == 1) {
      throw new NotAnImageException("schema 1 manifest");
    }
    if (schema == null || !schema.isIntegralNumber() || schema.asInt() != 2) {
      throw new InvalidImageException("manifest lacks schemaVersion 2");
    }
    if (MediaTypes.isIndex(mediaType) || (mediaType == null && json.has("manifests") && !json.has("layers"))) {
      throw new NotAnImageException("an image index, not a single image manifest");
    }
    Descriptor config = Descriptor.parse(json.get("config"), "manifest config");
    ImageFamily family;
    if (MediaTypes.DOCKER_MANIFEST.equals(mediaType)) {
      family = ImageFamily.DOCKER;
    } else if (mediaType == null || MediaTypes.OCI_MANIFEST.equals(mediaType)) {
      family = ImageFamily.OCI;
    } else {
      throw new NotAnImageException("manifest media type " + mediaType);
    }
    if (!MediaTypes.isImageConfig(config.mediaType())) {
      throw new NotAnImageException("config media type " + config.mediaType() + " is not an image config");
    }
    JsonNode layersNode = json.get("layers");
    if (layersNode == null || !layersNode.isArray()) {
      throw new InvalidImageException("manifest lacks a layers array");
    }
    List<Descriptor> layers = new ArrayList<>();
    for (int i = 0; i < layersNode.size(); i++) {
      layers.add(Descriptor.parse(layersNode.get(i), "layer " + i));
    }
    return new ImageManifest(family, config, layers, json);
  }

  /** A copy of this manifest with a new config and new layers; every other field is kept. */
  public byte[] rewrite(Descriptor newConfig, List<Descriptor> newLayers) {
    ObjectNode out = json.deepCopy();
    out.set("config", newConfig.json());
    ArrayNode arr = out.putArray("layers");
    newLayers.forEach(d -> arr.add(d.json()));
    // set() keeps the position of existing fields, so the document reads as its source did.
    return ImageJson.write(out);
  }

  public long totalLayerSize() {
    return layers.stream().mapToLong(Descriptor::size).sum();
  }

  public static Digest digestOf(byte[] manifestBytes) {
    return Digest.sha256(manifestBytes);
  }
}
