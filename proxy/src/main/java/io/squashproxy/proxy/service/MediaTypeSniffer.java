package io.squashproxy.proxy.service;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;

/** The media type of a manifest when upstream's Content-Type is missing or generic. */
final class MediaTypeSniffer {
  private MediaTypeSniffer() {}

  static String effective(String contentType, byte[] bytes) {
    String ct = contentType == null ? "" : contentType.split(";", 2)[0].trim();
    if (!ct.isEmpty() && !ct.equals("application/json") && !ct.equals("text/plain")
        && !ct.equals("application/octet-stream")) {
      return ct;
    }
    try {
      ObjectNode json = ImageJson.parseObject(bytes, "manifest");
      String mt = json.path("mediaType").asText("");
      if (!mt.isEmpty()) {
        return mt;
      }
      if (json.path("schemaVersion").asInt() == 1) {
        return json.has("signatures") ? MediaTypes.DOCKER_MANIFEST_V1_SIGNED : MediaTypes.DOCKER_MANIFEST_V1;
      }
      return json.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    } catch (InvalidImageException e) {
      return ct.isEmpty() ? "application/octet-stream" : ct;
    }
  }
}
