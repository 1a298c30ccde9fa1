package io.squashproxy.core.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;

/**
 * An OCI content descriptor. {@code json} is the descriptor object as it appeared (with annotations,
 * urls, platform and any other fields), so rewriting a document can copy it untouched.
 */
public record Descriptor(String mediaType, Digest digest, long size, ObjectNode json) {

  public static Descriptor of(String mediaType, Digest digest, long size) {
    ObjectNode json = ImageJson.MAPPER.createObjectNode();
    json.put("mediaType", mediaType);
    json.put("digest", digest.toString());
    json.put("size", size);
    return new Descriptor(mediaType, digest, size, json);
  }

  /** This descriptor with {@code annotations} added (after any it has); itself when there are none. */
  public Descriptor withAnnotations(java.util.Map<String, String> annotations) {
    if (annotations.isEmpty()) {
      return this;
    }
    ObjectNode copy = json.deepCopy();
    ObjectNode a = copy.has("annotations") && copy.get("annotations").isObject()
        ? (ObjectNode) copy.get("annotations") : copy.putObject("annotations");
    annotations.forEach(a::put);
    return new Descriptor(mediaType, digest, size, copy);
  }

  /** The annotation {@code key}, or null. */
  public String annotation(String key) {
    JsonNode v = json.path("annotations").get(key);
    return v != null && v.isTextual() ? v.asText() : null;
  }

  /** Reads and validates a descriptor; {@code what} names it in errors ("layer 3 of manifest ..."). */
  public static Descriptor parse(JsonNode node, String what) throws InvalidImageException {
    if (node == null || !node.isObject()) {
      throw new InvalidImageException(what + " is not a descriptor object");
    }
    JsonNode mediaType = node.get("mediaType");
    JsonNode digest = node.get("digest");
    JsonNode size = node.get("size");
    if (mediaType == null || !mediaType.isTextual()) {
      throw new InvalidImageException(what + " lacks mediaType");
    }
    if (digest == null || !digest.isTextual()) {
      throw new InvalidImageException(what + " lacks digest");
    }
    if (size == null || !size.isIntegralNumber() || !size.canConvertToLong() || size.asLong() < 0) {
      throw new InvalidImageException(what + " has a missing, negative or non-integer size");
    }
    Digest d;
    try {
      d = Digest.parse(digest.asText());
    } catch (IllegalArgumentException e) {
      throw new InvalidImageException(what + ": " + e.getMessage());
    }
    return new Descriptor(mediaType.asText(), d, size.asLong(), (ObjectNode) node);
  }
}
