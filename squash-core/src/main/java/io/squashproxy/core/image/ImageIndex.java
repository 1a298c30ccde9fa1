package io.squashproxy.core.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/** A Docker manifest list or OCI image index. */
public record ImageIndex(String mediaType, List<Descriptor> manifests, ObjectNode json) {

  public ImageIndex {
    manifests = List.copyOf(manifests);
  }

  public static boolean looksLikeIndex(byte[] bytes) {
    try {
      ObjectNode json = ImageJson.parseObject(bytes, "document");
      String mt = json.path("mediaType").asText(null);
      return MediaTypes.isIndex(mt) || (mt == null && json.has("manifests") && !json.has("layers"));
    } catch (InvalidImageException e) {
      return false;
    }
  }

  public static ImageIndex parse(byte[] bytes) throws InvalidImageException {
    ObjectNode json = ImageJson.parseObject(bytes, "image index");
    if (json.path("schemaVersion").asInt(-1) != 2) {
      throw new InvalidImageException("image index lacks schemaVersion 2");
    }
    String mediaType = json.path("mediaType").asText(MediaTypes.OCI_INDEX);
    if (!MediaTypes.isIndex(mediaType)) {
      throw new NotAnImageException("media type " + mediaType + " is not an index");
    }
    JsonNode arr = json.get("manifests");
    if (arr == null || !arr.isArray()) {
      throw new InvalidImageException("image index lacks a manifests array");
    }
    List<Descriptor> list = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      list.add(Descriptor.parse(arr.get(i), "index entry " + i));
    }
    return new ImageIndex(mediaType, list, json);
  }

  /** A copy of the index with each entry replaced by what {@code replace} returns (the same to keep it). */
  public byte[] rewrite(UnaryOperator<Descriptor> replace) {
    ObjectNode out = json.deepCopy();
    ArrayNode arr = out.putArray("manifests");
    for (Descriptor d : manifests) {
      arr.add(replace.apply(d).json());
    }
    return ImageJson.write(out);
  }
}
