package io.squashproxy.tests.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/** Assertions on an image's structure that pull clients rely on. */
public final class ImageChecks {

  private ImageChecks() {}

  /** What a layer's first bytes say it is: "gzip", "zstd" or "tar". */
  public static String compressionOf(ImageArchive img, int layer) {
    try (InputStream in = img.openRaw(img.layers().get(layer).path())) {
      byte[] m = in.readNBytes(4);
      if (m.length >= 2 && (m[0] & 0xff) == 0x1f && (m[1] & 0xff) == 0x8b) {
        return "gzip";
      }
      if (m.length == 4 && (m[0] & 0xff) == 0x28 && (m[1] & 0xff) == 0xb5 && (m[2] & 0xff) == 0x2f
          && (m[3] & 0xff) == 0xfd) {
        return "zstd";
      }
      return "tar";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The compression a layer media type declares: "gzip", "zstd" or "tar". */
  public static String declaredCompression(String mediaType) {
    if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) {
      return "gzip";
    }
    if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) {
      return "zstd";
    }
    if (mediaType.endsWith(".tar") || mediaType.endsWith("layer.v1.tar")) {
      return "tar";
    }
    return "unknown media type " + mediaType;
  }

  /**
   * Blob digests and sizes match the manifest (OCI), each layer's media type matches its bytes, the config's
   * diff_ids are the digests of the uncompressed layers, and history has one non-empty entry per layer.
   */
  public static void assertConsistent(ImageArchive img) {
    List<String> diffIds = new ArrayList<>();
    for (JsonNode d : img.config().path("rootfs").path("diff_ids")) {
      diffIds.add(d.asText());
    }
    assertEquals(img.layers().size(), diffIds.size(), "config rootfs.diff_ids vs layers");
    for (int i = 0; i < img.layers().size(); i++) {
      ImageArchive.Layer l = img.layers().get(i);
      try {
        if (l.digest() != null) {
          try (InputStream in = img.openRaw(l.path())) {
            assertEquals(l.digest(), "sha256:" + RootfsTree.sha256(in), "digest of layer " + i);
          }
          assertEquals(l.size(), img.size(l.path()), "size of layer " + i);
        }
        if (l.mediaType() != null) {
          assertEquals(declaredCompression(l.mediaType()), compressionOf(img, i),
              "layer " + i + " media type " + l.mediaType() + " vs its bytes");
        }
        try (InputStream in = img.openLayer(i)) {
          assertEquals(diffIds.get(i), "sha256:" + RootfsTree.sha256(in), "diff_id of layer " + i);
        }
      } catch (IOException e) {
        fail("cannot read layer " + i + " of the image", e);
      }
    }
    if (img.config().has("history")) {
      assertEquals(img.layers().size(), img.nonEmptyHistoryEntries(),
          "history entries without empty_layer must match the layers (docker history, buildkit rely on it)");
    }
  }

  /** The digests of the first {@code n} uncompressed layers. */
  public static List<String> diffIds(ImageArchive img, int n) {
    List<String> r = new ArrayList<>();
    JsonNode ids = img.config().path("rootfs").path("diff_ids");
    for (int i = 0; i < n && i < ids.size(); i++) {
      r.add(ids.get(i).asText());
    }
    return r;
  }
}
