package io.squashproxy.core.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import java.util.ArrayList;
import java.util.List;

/** An image config: its JSON tree, and the diff_ids the squash checks layers against. */
public record ImageConfig(ObjectNode json, List<Digest> diffIds) {

  public static ImageConfig parse(byte[] bytes) throws InvalidImageException {
    ObjectNode json = ImageJson.parseObject(bytes, "image config");
    JsonNode rootfs = json.get("rootfs");
    if (rootfs == null || !rootfs.isObject()) {
      throw new InvalidImageException("image config lacks rootfs");
    }
    if (!"layers".equals(rootfs.path("type").asText())) {
      throw new InvalidImageException("image config rootfs.type is not \"layers\"");
    }
    JsonNode ids = rootfs.get("diff_ids");
    if (ids == null || !ids.isArray()) {
      throw new InvalidImageException("image config lacks rootfs.diff_ids");
    }
    List<Digest> diffIds = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      try {
        diffIds.add(Digest.parse(ids.get(i).asText(null)));
      } catch (IllegalArgumentException e) {
        throw new InvalidImageException("image config rootfs.diff_ids[" + i + "]: " + e.getMessage());
      }
    }
    JsonNode history = json.get("history");
    if (history != null && !history.isArray()) {
      throw new InvalidImageException("image config history is not an array");
    }
    return new ImageConfig(json, List.copyOf(diffIds));
  }

  /**
   * The config of the squashed image: diff_ids of the kept layers plus the new one; history entries of
   * the squashed layers kept for the record but marked {@code empty_layer}, followed by one entry for the
   * squashed layer; every other field untouched. The new entry's {@code created} is the last squashed
   * entry's, never the clock, so the result is reproducible.
   */
  public byte[] squashed(int keptLayers, Digest squashedDiffId, String createdBy, String comment) {
    ObjectNode out = json.deepCopy();
    ArrayNode ids = ((ObjectNode) out.get("rootfs")).putArray("diff_ids");
    for (int i = 0; i < keptLayers; i++) {
      ids.add(diffIds.get(i).toString());
    }
    ids.add(squashedDiffId.toString());
    JsonNode history = json.get("history");
    if (history != null) {
      ArrayNode newHistory = ImageJson.MAPPER.createArrayNode();
      int layerIndex = 0;
      JsonNode lastCreated = json.get("created");
      for (JsonNode entry : history) {
        boolean empty = entry.path("empty_layer").asBoolean(false);
        if (empty || layerIndex < keptLayers) {
          newHistory.add(entry.deepCopy());
        } else {
          ObjectNode copy = ((ObjectNode) entry).deepCopy();
          copy.put("empty_layer", true);
          newHistory.add(copy);
          if (entry.has("created")) {
            lastCreated = entry.get("created");
          }
        }
        if (!empty) {
          layerIndex++;
        }
      }
      ObjectNode squash = newHistory.addObject();
      if (lastCreated != null) {
        squash.set("created", lastCreated.deepCopy());
      }
      squash.put("created_by", createdBy);
      squash.put("comment", comment);
      out.set("history", newHistory);
    }
    return ImageJson.write(out);
  }
}
