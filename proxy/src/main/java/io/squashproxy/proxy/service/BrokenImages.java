package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Upstream images that are broken (not merely beyond what the squash does) are refused, never served: the
 * client gets {@code MANIFEST_INVALID} with the spec's status for it, 400, a message naming the image, layer
 * and entry, and the same three in the envelope's {@code detail}. Not 502, though the fault is upstream's:
 * docker and skopeo show the envelope's message only for 4xx answers (for a 5xx they print the status line
 * alone), and a 4xx is not retried. A pull by the original digest still passes the upstream document through
 * byte-exact.
 */
final class BrokenImages {
  private static final Logger LOG = LoggerFactory.getLogger(BrokenImages.class);

  private BrokenImages() {}

  static RegistryException refused(Route route, Digest source, IOException problem) {
    String image = route.clientName() + "@" + source;
    Map<String, String> detail = new LinkedHashMap<>();
    detail.put("image", image);
    if (problem instanceof SquashException s) {
      if (s.layer() != null) {
        detail.put("layer", s.layer().toString());
      }
      if (s.entry() != null) {
        detail.put("entry", s.entry());
      }
    }
    LOG.warn("refusing {}: the upstream image is broken: {}", image, problem.getMessage());
    return new RegistryException(ErrorCode.MANIFEST_INVALID, ErrorCode.MANIFEST_INVALID.status(),
        "upstream image " + image + " is broken: " + problem.getMessage(), detail, problem);
  }

  /** The layers' declared compressed sizes, summed without overflowing (a lying manifest may declare 2^63). */
  static long declaredSize(ImageManifest manifest) {
    long sum = manifest.config().size();
    for (Descriptor d : manifest.layers()) {
      sum = sum + d.size() < sum ? Long.MAX_VALUE : sum + d.size();
    }
    return sum;
  }
}
