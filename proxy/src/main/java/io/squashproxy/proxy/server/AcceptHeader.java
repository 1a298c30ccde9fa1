package io.squashproxy.proxy.server;

import io.squashproxy.core.image.MediaTypes;
import java.util.ArrayList;
import java.util.List;

/** Which manifest media types a client accepts, the way registries read the {@code Accept} header. */
record AcceptHeader(List<String> types) {

  static AcceptHeader parse(List<String> headers) {
    List<String> out = new ArrayList<>();
    for (String h : headers) {
      for (String part : h.split(",")) {
        String t = part.split(";", 2)[0].trim();
        if (!t.isEmpty()) {
          out.add(t);
        }
      }
    }
    return new AcceptHeader(out);
  }

  /** No header, or a wildcard: the client takes what we have. */
  boolean acceptsAnything() {
    return types.isEmpty() || types.contains("*/*");
  }

  boolean accepts(String mediaType) {
    return acceptsAnything() || types.contains(mediaType);
  }

  boolean acceptsIndexes() {
    return accepts(MediaTypes.OCI_INDEX) || accepts(MediaTypes.DOCKER_MANIFEST_LIST);
  }
}
