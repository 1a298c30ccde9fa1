package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.RandomImages;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The squashed image's documents: reproducible bytes, faithful rewrites, media types in family. */
class ImageRewriteTest {
  @TempDir(factory = FastTempDirs.class)
  Path work;

  static TestImage image(boolean docker) {
    TestImage.Builder b = docker ? TestImage.docker() : TestImage.oci();
    return b.layer(layer().dir("etc").file("etc/os-release", "ID=test").mode(0644))
        .layer(layer().file("bin/app", "app v1").mode(0755).xattr("security.capability", new byte[] {1, (byte) 0xff}))
        .layer(layer().file("bin/app", "app v2").file("tmp/junk", "junk"))
        .layer(layer().whiteout("tmp"))
        .editConfig(c -> {
          c.put("author", "someone");
          c.put("variant", "v8");
          c.putObject("unknown_extension").put("precise", new java.math.BigDecimal("1.000000000000000000001"));
        })
        .editManifest(m -> {
          ObjectNode cfg = (ObjectNode) m.get("config");
          cfg.putObject("annotations").put("config.note", "kept");
          ((ObjectNode) m.get("layers").get(0)).putObject("annotations").put("layer.note", "first");
          if (!docker) {
            ((ObjectNode) m.get("annotations")).put("org.opencontainers.image.source", "https://example.com/src");
            m.putObject("subject").put("mediaType", MediaTypes.OCI_MANIFEST)
                .put("digest", "sha256:" + "a".repeat(64)).put("size", 123);
          }
        })
        .build();
  }

  @ParameterizedTest(name = "docker={0} keep={1} compression={2}")
  @CsvSource({"false,0,gzip", "true,0,gzip", "false,0,zstd", "true,0,zstd", "false,2,gzip", "true,1,none",
      "false,0,gzip:9", "true,2,zstd:19"})
  void squashingTwiceGivesIdenticalBytes(boolean docker, int keep, String compression) throws IOException {
    SquashOptions opts = SquashOptions.DEFAULT.withKeepLayers(keep).withCompression(Compression.parse(compression));
    Squashing.Squashed a = Squashing.squash(image(docker), opts, work.resolve("a"));
    Squashing.Squashed b = Squashing.squash(image(docker), opts, work.resolve("b"));
    assertArrayEquals(a.layerBlob(), b.layerBlob(), "layer blob");
    assertArrayEquals(a.result().config(), b.result().config(), "config");
    assertArrayEquals(a.result().manifest(), b.result().manifest(), "manifest");
    assertEquals(a.result().manifestDigest(), b.result().manifestDigest());
  }

  @Test
  void randomImagesSquashReproducibly() throws IOException {
    for (long seed = 1000; seed < 1010; seed++) {
      TestImage.Builder b = TestImage.oci();
      RandomImages.generate(seed).tars().forEach(b::layer);
      TestImage img = b.build();
      Squashing.Squashed x = Squashing.squash(img, work.resolve("x" + seed));
      Squashing.Squashed y = Squashing.squash(img, work.resolve("y" + seed));
      assertArrayEquals(x.layerBlob(), y.layerBlob(), "seed " + seed);
      assertArrayEquals(x.result().manifest(), y.result().manifest(), "seed " + seed);
    }
  }

  @ParameterizedTest(name = "docker={0} keep={1}")
  @CsvSource({"false,0", "true,0", "false,1", "true,2"})
  void configAndManifestAreRewrittenFaithfully(boolean docker, int keep) throws IOException {
    TestImage img = image(docker);
    Squashing.Squashed s = Squashing.squash(img, SquashOptions.DEFAULT.withKeepLayers(keep), work);
    var r = s.result();
    ObjectNode oldConfig = img.configJson();
    ObjectNode newConfig = TestImage.parse(r.config());
    ObjectNode oldManifest = img.manifestJson();
    ObjectNode newManifest = TestImage.parse(r.manifest());

    // Digests and sizes are those of the bytes returned.
    assertEquals(Digest.sha256(r.manifest()), r.manifestDigest());
    assertEquals(Digest.sha256(r.config()), r.configDigest());
    assertEquals(r.configDigest().toString(), newManifest.get("config").get("digest").asText());
    assertEquals(r.config().length, newManifest.get("config").get("size").asLong());
    assertEquals(Digest.sha256(s.layerBlob()), r.squashedLayer().digest());
    assertEquals(s.layerBlob().length, r.squashedLayer().size());
    assertEquals(Digest.sha256(s.layerTar()), r.squashedDiffId());

    // Config: diff_ids are the kept ones plus the squashed one; all other fields unchanged.
    ArrayNode ids = (ArrayNode) newConfig.get("rootfs").get("diff_ids");
    assertEquals(keep + 1, ids.size());
    for (int i = 0; i < keep; i++) {
      assertEquals(oldConfig.get("rootfs").get("diff_ids").get(i), ids.get(i));
    }
    assertEquals(r.squashedDiffId().toString(), ids.get(keep).asText());
    assertEquals(withoutFields(oldConfig, "rootfs", "history"), withoutFields(newConfig, "rootfs", "history"));
    assertEquals("layers", newConfig.get("rootfs").get("type").asText());
    String configText = new String(r.config(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(new String(img.config(), java.nio.charset.StandardCharsets.UTF_8).contains("1.000000000000000000001"));
    assertTrue(configText.contains("\"precise\":1.000000000000000000001"), "numbers keep their precision: "
        + configText);

    // History: the old entries (squashed ones now empty layers), then one new non-empty entry naming the
    // source manifest; one non-empty entry per layer of the result.
    ArrayNode oldHistory = (ArrayNode) oldConfig.get("history");
    ArrayNode history = (ArrayNode) newConfig.get("history");
    assertEquals(oldHistory.size() + 1, history.size());
    JsonNode added = history.get(history.size() - 1);
    assertFalse(added.path("empty_layer").asBoolean(false));
    assertTrue(added.get("created_by").asText().contains(img.manifestDigest().toString()), added.toString());
    int nonEmpty = 0;
    int layerIndex = 0;
    for (int i = 0; i < oldHistory.size(); i++) {
      JsonNode before = oldHistory.get(i);
      JsonNode after = history.get(i);
      boolean wasEmpty = before.path("empty_layer").asBoolean(false);
      if (wasEmpty || layerIndex < keep) {
        assertEquals(before, after, "history entry " + i + " unchanged");
      } else {
        assertTrue(after.get("empty_layer").asBoolean(), "squashed layer's history entry " + i);
        assertEquals(before.get("created_by"), after.get("created_by"));
      }
      if (!wasEmpty) {
        layerIndex++;
      }
      nonEmpty += after.path("empty_layer").asBoolean(false) ? 0 : 1;
    }
    assertEquals(keep + 1, nonEmpty + 1, "non-empty history entries match the layers");
    assertEquals(oldConfig.get("created"), newConfig.get("created"));

    // Manifest: same fields, annotations and kept descriptors; media types stay in the family.
    assertEquals(withoutFields(oldManifest, "config", "layers"), withoutFields(newManifest, "config", "layers"));
    assertEquals(withoutFields((ObjectNode) oldManifest.get("config"), "digest", "size"),
        withoutFields((ObjectNode) newManifest.get("config"), "digest", "size"));
    ArrayNode layers = (ArrayNode) newManifest.get("layers");
    assertEquals(keep + 1, layers.size());
    for (int i = 0; i < keep; i++) {
      assertEquals(oldManifest.get("layers").get(i), layers.get(i));
    }
    String family = docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
    assertEquals(family, newManifest.get("mediaType").asText());
    assertEquals(family, r.manifestMediaType());
    assertEquals(docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG,
        newManifest.get("config").get("mediaType").asText());
    assertEquals(docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP,
        layers.get(keep).get("mediaType").asText());
    assertTrue(Blobs.isGzip(s.layerBlob()));
    List<Descriptor> expectLayers = new ArrayList<>(r.layers());
    assertEquals(r.squashedLayer(), expectLayers.get(keep));
    assertEquals(r.squashedLayer().digest().toString(), layers.get(keep).get("digest").asText());
    assertEquals(2, newManifest.get("schemaVersion").asInt());
    assertTrue(r.report().layersAfter() == keep + 1 && r.report().layersBefore() == 4);
  }

  @ParameterizedTest(name = "docker={0}")
  @CsvSource({"false", "true"})
  void zstdOptionGivesAZstdLayer(boolean docker) throws IOException {
    Squashing.Squashed s = Squashing.squash(image(docker), SquashOptions.DEFAULT.withCompression(Compression.ZSTD),
        work);
    assertTrue(Blobs.isZstd(s.layerBlob()));
    assertEquals(MediaTypes.OCI_LAYER_ZSTD, s.result().squashedLayer().mediaType());
    assertEquals(docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST, s.result().manifestMediaType());
  }

  @ParameterizedTest(name = "docker={0}")
  @CsvSource({"false", "true"})
  void uncompressedOptionGivesATarLayer(boolean docker) throws IOException {
    Squashing.Squashed s = Squashing.squash(image(docker), SquashOptions.DEFAULT.withCompression(Compression.NONE),
        work);
    assertArrayEquals(s.layerTar(), s.layerBlob());
    assertEquals(docker ? MediaTypes.DOCKER_LAYER_TAR : MediaTypes.OCI_LAYER_TAR,
        s.result().squashedLayer().mediaType());
    assertEquals(s.result().squashedLayer().digest(), s.result().squashedDiffId());
  }

  @Test
  void differentOptionsGiveDifferentHistory() throws IOException {
    Squashing.Squashed a = Squashing.squash(image(false), SquashOptions.DEFAULT, work.resolve("a"));
    Squashing.Squashed b = Squashing.squash(image(false), SquashOptions.DEFAULT.withCompression(Compression.ZSTD),
        work.resolve("b"));
    assertNotEquals(a.result().configDigest(), b.result().configDigest());
    assertEquals(a.result().squashedDiffId(), b.result().squashedDiffId(), "same tar, other compression");
  }

  @Test
  void configWithoutHistoryGetsNone() throws IOException {
    TestImage img = TestImage.oci().noHistory().layer(layer().file("a", "a")).layer(layer().file("b", "b")).build();
    Squashing.Squashed s = Squashing.squash(img, work);
    ObjectNode c = TestImage.parse(s.result().config());
    assertFalse(c.has("history"));
    assertEquals(withoutFields(img.configJson(), "rootfs"), withoutFields(c, "rootfs"));
  }

  private static ObjectNode withoutFields(ObjectNode node, String... fields) {
    ObjectNode copy = node.deepCopy();
    copy.remove(List.of(fields));
    return copy;
  }
}
