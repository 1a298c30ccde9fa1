package io.squashproxy.proxy.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/** Tag list pages name the repository as the client called it, not as upstream does. */
final class TagLists {
  private static final ObjectMapper JSON = new ObjectMapper();

  private TagLists() {}

  static byte[] renamed(byte[] body, String clientName) {
    try {
      ObjectNode n = (ObjectNode) JSON.readTree(body);
      n.put("name", clientName);
      return JSON.writeValueAsBytes(n);
    } catch (IOException | ClassCastException e) {
      return body;
    }
  }
}
