package io.squashproxy.proxy.admin;

import io.squashproxy.core.digest.Digest;
import java.util.List;

/**
 * One row of the status page's image table: a squashed image, named as it is pulled. A record so that the
 * page can grow columns (kept and squashed layers, waste) by adding fields here and cells in
 * {@link StatusPage}.
 *
 * @param image {@code upstream/repository}
 * @param tags the tags that point at it (for a platform of an index: the index's tags); empty when it was
 *     pulled by digest only, or its tag is no longer known
 * @param platform {@code os/architecture[/variant]} for a platform of an index, else empty
 * @param pulledAs the digest it is named by when no tag is known: the image's own source digest, or for a
 *     platform of an index the index's
 * @param keptLayers leading layers kept as they were; -1 when the record does not say
 * @param wastedBytes what the squash found wasted; -1 when unknown
 */
record ImageRow(String image, List<String> tags, String platform, Digest pulledAs, Digest source,
    Digest manifest, int layersBefore, int layersAfter, long bytesBefore, long bytesAfter, int keptLayers,
    long wastedBytes) {

  ImageRow {
    tags = List.copyOf(tags);
  }

  /** {@code upstream/repo:tag} (further tags after it), or {@code upstream/repo@sha256:abcdef123456…}. */
  String name() {
    if (tags.isEmpty()) {
      return image + "@" + shortDigest(pulledAs);
    }
    return image + ":" + String.join(", :", tags);
  }

  /** Whether the rule left the image as it is (nothing wasted). */
  boolean unchanged() {
    return manifest.equals(source);
  }

  long saved() {
    return bytesBefore - bytesAfter;
  }

  static String shortDigest(Digest d) {
    String s = d.toString();
    return s.length() <= 19 ? s : s.substring(0, 19) + "\u2026";
  }
}
