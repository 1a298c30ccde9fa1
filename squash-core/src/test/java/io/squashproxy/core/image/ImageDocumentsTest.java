package io.squashproxy.core.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ImageDocumentsTest {
  static final String D = "sha256:" + "a".repeat(64);

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static TestImage image(boolean docker) {
    return (docker ? TestImage.docker() : TestImage.oci()).layer(LayerBuilder.layer().file("a", "a"))
        .layer(LayerBuilder.layer().file("b", "b")).build();
  }

  @Test
  void parsesBothFamilies() throws InvalidImageException {
    ImageManifest d = ImageManifest.parse(image(true).manifest());
    assertEquals(ImageFamily.DOCKER, d.family());
    assertEquals(2, d.layers().size());
    ImageManifest o = ImageManifest.parse(image(false).manifest());
    assertEquals(ImageFamily.OCI, o.family());
    assertEquals(image(false).layerDigests(), o.layers().stream().map(Descriptor::digest).toList());
    assertEquals(image(false).layerBlobs().stream().mapToLong(b -> b.length).sum(), o.totalLayerSize());
  }

  @Test
  void ociManifestWithoutMediaTypeIsOci() throws InvalidImageException {
    ObjectNode m = image(false).manifestJson();
    m.remove("mediaType");
    assertEquals(ImageFamily.OCI, ImageManifest.parse(utf8(m.toString())).family());
  }

  @Test
  void documentsThatAreNotImages() {
    for (String doc : List.of(
        "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DOCKER_MANIFEST_LIST + "\",\"manifests\":[]}",
        "{\"schemaVersion\":2,\"manifests\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
            + "\"application/vnd.cncf.helm.config.v1+json\",\"digest\":\"" + D + "\",\"size\":1},\"layers\":[]}")) {
      assertThrows(NotAnImageException.class, () -> ImageManifest.parse(utf8(doc)), doc);
    }
  }

  @Test
  void brokenManifests() {
    String cfg = "\"config\":{\"mediaType\":\"" + MediaTypes.OCI_CONFIG + "\",\"digest\":\"" + D + "\",\"size\":2}";
    for (String doc : List.of("", "null", "[]", "{", "{\"schemaVersion\":2} {}", "{\"schemaVersion\":3," + cfg
        + ",\"layers\":[]}", "{" + cfg + ",\"layers\":[]}", "{\"schemaVersion\":2,\"layers\":[]}",
        "{\"schemaVersion\":2," + cfg + "}", "{\"schemaVersion\":2," + cfg + ",\"layers\":{}}",
        "{\"schemaVersion\":2," + cfg + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"" + D + "\"}]}",
        "{\"schemaVersion\":2," + cfg + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"sha256:zz\",\"size\":1}]}",
        "{\"schemaVersion\":2," + cfg + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"" + D + "\",\"size\":-1}]}",
        "{\"schemaVersion\":2," + cfg + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"" + D + "\",\"size\":1.5}]}",
        "{\"schemaVersion\":2,\"schemaVersion\":2," + cfg + ",\"layers\":[]}")) {
      InvalidImageException e = assertThrows(InvalidImageException.class, () -> ImageManifest.parse(utf8(doc)), doc);
      assertFalse(e instanceof NotAnImageException, doc + ": " + e.getMessage());
    }
  }

  @Test
  void brokenConfigs() {
    String ids = "\"diff_ids\":[\"" + D + "\"]";
    for (String doc : List.of("{}", "{\"rootfs\":[]}", "{\"rootfs\":{\"type\":\"layers\"}}",
        "{\"rootfs\":{" + ids + "}}", "{\"rootfs\":{\"type\":\"other\"," + ids + "}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"nope\"]}}",
        "{\"rootfs\":{\"type\":\"layers\"," + ids + "},\"history\":{}}", "not json")) {
      assertThrows(InvalidImageException.class, () -> ImageConfig.parse(utf8(doc)), doc);
    }
  }

  @Test
  void rewriteKeepsEverythingElse() throws InvalidImageException {
    ObjectNode m = image(false).manifestJson();
    m.put("artifactType", "x/y");
    ((ObjectNode) m.get("layers").get(0)).putArray("urls").add("https://example.com/l");
    ImageManifest parsed = ImageManifest.parse(utf8(m.toString()));
    Descriptor newConfig = Descriptor.of(MediaTypes.OCI_CONFIG, Digest.parse(D), 42);
    byte[] out = parsed.rewrite(newConfig, parsed.layers().subList(0, 1));
    ObjectNode back = TestImage.parse(out);
    assertEquals(List.of("schemaVersion", "mediaType", "config", "layers", "annotations", "artifactType"),
        fieldNames(back));
    assertEquals(m.get("annotations"), back.get("annotations"));
    assertEquals("x/y", back.get("artifactType").asText());
    assertEquals(1, back.get("layers").size());
    assertEquals(m.get("layers").get(0), back.get("layers").get(0));
    assertEquals(D, back.get("config").get("digest").asText());
    assertArrayEquals(out, parsed.rewrite(newConfig, parsed.layers().subList(0, 1)), "deterministic");
  }

  @Test
  void squashedConfigHistory() throws InvalidImageException {
    TestImage img = TestImage.oci().layer(LayerBuilder.layer().file("a", "a"))
        .layer(LayerBuilder.layer().file("b", "b")).layer(LayerBuilder.layer().file("c", "c")).build();
    ImageConfig c = ImageConfig.parse(img.config());
    assertEquals(3, c.diffIds().size());
    Digest diffId = Digest.sha256(utf8("new"));
    ObjectNode out = TestImage.parse(c.squashed(1, diffId, "squashed by test", "keep=1"));
    ArrayNode ids = (ArrayNode) out.get("rootfs").get("diff_ids");
    assertEquals(List.of(c.diffIds().get(0).toString(), diffId.toString()),
        List.of(ids.get(0).asText(), ids.get(1).asText()));
    ArrayNode h = (ArrayNode) out.get("history");
    // source: step 0, ENV (empty), step 1, step 2 -> plus one new entry
    assertEquals(5, h.size());
    assertFalse(h.get(0).has("empty_layer"));
    assertTrue(h.get(1).get("empty_layer").asBoolean());
    assertTrue(h.get(2).get("empty_layer").asBoolean());
    assertTrue(h.get(3).get("empty_layer").asBoolean());
    JsonNode added = h.get(4);
    assertEquals("squashed by test", added.get("created_by").asText());
    assertEquals("keep=1", added.get("comment").asText());
    assertEquals(img.configJson().get("history").get(3).get("created"), added.get("created"),
        "created comes from the last squashed entry, not the clock");
  }

  @Test
  void familyMediaTypes() {
    assertEquals(MediaTypes.DOCKER_LAYER_GZIP, ImageFamily.DOCKER.layerMediaType(Compression.Algorithm.GZIP));
    assertEquals(MediaTypes.DOCKER_LAYER_TAR, ImageFamily.DOCKER.layerMediaType(Compression.Algorithm.NONE));
    assertEquals(MediaTypes.OCI_LAYER_ZSTD, ImageFamily.DOCKER.layerMediaType(Compression.Algorithm.ZSTD));
    assertEquals(MediaTypes.OCI_LAYER_GZIP, ImageFamily.OCI.layerMediaType(Compression.Algorithm.GZIP));
    assertEquals(MediaTypes.OCI_LAYER_TAR, ImageFamily.OCI.layerMediaType(Compression.Algorithm.NONE));
    assertEquals(MediaTypes.OCI_LAYER_ZSTD, ImageFamily.OCI.layerMediaType(Compression.Algorithm.ZSTD));
    assertTrue(MediaTypes.isSquashableLayer(MediaTypes.DOCKER_LAYER_GZIP));
    assertFalse(MediaTypes.isSquashableLayer(MediaTypes.DOCKER_LAYER_FOREIGN));
    assertFalse(MediaTypes.isSquashableLayer(MediaTypes.OCI_LAYER_NONDIST_TAR));
  }

  @Test
  void indexParsingAndRewrite() throws InvalidImageException {
    String doc = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":[{\"mediaType\":\""
        + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + D + "\",\"size\":7,\"platform\":{\"os\":\"linux\"}}],"
        + "\"annotations\":{\"k\":\"v\"}}";
    assertTrue(ImageIndex.looksLikeIndex(utf8(doc)));
    assertFalse(ImageIndex.looksLikeIndex(image(false).manifest()));
    ImageIndex idx = ImageIndex.parse(utf8(doc));
    Descriptor other = Descriptor.of(MediaTypes.OCI_MANIFEST, Digest.sha256(utf8("x")), 9);
    ObjectNode out = TestImage.parse(idx.rewrite(d -> other));
    assertEquals("v", out.get("annotations").get("k").asText());
    assertEquals(other.digest().toString(), out.get("manifests").get(0).get("digest").asText());
    assertThrows(NotAnImageException.class, () -> ImageIndex.parse(image(false).manifest()));
  }

  private static List<String> fieldNames(ObjectNode n) {
    List<String> out = new java.util.ArrayList<>();
    n.fieldNames().forEachRemaining(out::add);
    return out;
  }
}
