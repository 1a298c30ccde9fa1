package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A manifest document as a registry served it: the exact bytes, the {@code Content-Type}, the
 * {@code Docker-Content-Digest} header (null if absent) and the sha256 of the bytes.
 */
public record RawManifest(byte[] bytes, String mediaType, String digestHeader, String sha256) {

  public static RawManifest of(HttpResponse<byte[]> r) {
    return new RawManifest(r.body(), r.headers().firstValue("Content-Type").orElse(null),
        r.headers().firstValue("Docker-Content-Digest").orElse(null), digestOf(r.body()));
  }

  public static String digestOf(byte[] bytes) {
    return "sha256:" + HexFormat.of().formatHex(RootfsTree.sha256().digest(bytes));
  }

  public JsonNode json() {
    try {
      return ImageArchive.JSON.readTree(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The layer descriptors' digests of an image manifest, in order. */
  public List<String> layerDigests() {
    List<String> out = new ArrayList<>();
    for (JsonNode l : json().path("layers")) {
      out.add(l.get("digest").asText());
    }
    return out;
  }

  /** The config digest and every layer digest of an image manifest. */
  public List<String> blobDigests() {
    List<String> out = new ArrayList<>();
    out.add(json().path("config").path("digest").asText());
    out.addAll(layerDigests());
    return out;
  }

  /** Compressed bytes of all layers, as the manifest declares them. */
  public long layerBytes() {
    long sum = 0;
    for (JsonNode l : json().path("layers")) {
      sum += l.get("size").asLong();
    }
    return sum;
  }
}
