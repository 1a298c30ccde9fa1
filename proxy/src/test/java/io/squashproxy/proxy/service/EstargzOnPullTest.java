package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.estargz.EstargzReader;
import io.squashproxy.core.estargz.EstargzWriter;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.WasteSlack;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code compression: estargz} through the image service: the squashed layer is an eStargz blob (chunks,
 * TOC, footer) with the annotations the snapshotter reads, the prioritised files come before the prefetch
 * landmark, and in {@code auto} the kept layers stay as upstream sent them.
 */
class EstargzOnPullTest {
  private static final int CHUNK = 16 * 1024;
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  private static final LayerBuilder BASE = LayerBuilder.layer().dir("usr").file("usr/lib", new byte[50_000])
      .file("etc/os-release", "ID=test\n");

  private static TestImage app() {
    return TestImage.oci().layer(BASE)
        .layer(LayerBuilder.layer().dir("app").file("app/server", new byte[70_000]))
        .layer(LayerBuilder.layer().file("tmp/build", new byte[80_000]))
        .layer(LayerBuilder.layer().whiteout("tmp"))
        .build();
  }

  private static Rules estargz(SquashRule.Mode mode, List<String> prioritized) {
    return new Rules(List.of(new SquashRule("**", mode, 0, null, Compression.parse("estargz:6").withChunkSize(CHUNK),
        List.of(), mode == SquashRule.Mode.AUTO ? new WasteSlack(1000, 1) : null, ProxyHarness.WAIT, prioritized)));
  }

  @Test
  void theSquashedLayerIsEstargzWithTheSnapshottersAnnotationsAndPrioritisedFilesFirst() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("team/app", "v1", app());
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"),
        estargz(SquashRule.Mode.ALL, List.of("/app/server")), 1L << 40)) {
      ServedManifest m = h.service.manifest(h.route("team/app"), "v1").join();
      JsonNode layers = JSON.readTree(m.bytes()).get("layers");
      assertEquals(1, layers.size());
      JsonNode layer = layers.get(0);
      assertEquals("application/vnd.oci.image.layer.v1.tar+gzip", layer.get("mediaType").asText());
      byte[] blob = blob(h, Digest.parse(layer.get("digest").asText()));
      EstargzReader r = EstargzReader.verify(blob, CHUNK);
      JsonNode annotations = layer.get("annotations");
      assertEquals(Digest.sha256(r.tocJson).toString(), annotations.get(EstargzWriter.TOC_DIGEST_ANNOTATION).asText());
      assertEquals(Long.toString(r.tar.length), annotations.get(EstargzWriter.UNCOMPRESSED_SIZE_ANNOTATION).asText());
      List<String> names = r.items.stream().map(i -> i.entry().name()).toList();
      int landmark = names.indexOf(EstargzWriter.PREFETCH_LANDMARK);
      assertTrue(landmark > 0, "a prefetch landmark after the prioritised files: " + names);
      assertTrue(names.indexOf("app/server") < landmark, names.toString());
      assertTrue(names.indexOf("usr/lib") > landmark, names.toString());
      assertTrue(r.tocByName().containsKey("app/server"));
      assertTrue(names.stream().noneMatch(n -> n.startsWith("tmp/build")), "the deleted file is gone");
    }
  }

  @Test
  void inAutoOnlyTheSquashedRangeIsRewrittenTheKeptLayersStayAsUpstreamSentThem() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    TestImage img = app();
    up.push("team/app", "v1", img);
    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"), estargz(SquashRule.Mode.AUTO, List.of()),
        1L << 40)) {
      ServedManifest m = h.service.manifest(h.route("team/app"), "v1").join();
      JsonNode layers = JSON.readTree(m.bytes()).get("layers");
      assertEquals(3, layers.size(), "base and app kept, build and clean-up squashed");
      for (int i = 0; i < 2; i++) {
        assertEquals(img.layerDigests().get(i).toString(), layers.get(i).get("digest").asText());
        assertTrue(layers.get(i).get("annotations") == null
            || !layers.get(i).get("annotations").has(EstargzWriter.TOC_DIGEST_ANNOTATION));
      }
      JsonNode top = layers.get(2);
      assertNotEquals(img.layerDigests().get(2).toString(), top.get("digest").asText());
      EstargzReader r = EstargzReader.verify(blob(h, Digest.parse(top.get("digest").asText())), CHUNK);
      assertEquals(Digest.sha256(r.tocJson).toString(), top.get("annotations").get(EstargzWriter.TOC_DIGEST_ANNOTATION).asText());
      assertEquals(EstargzWriter.NO_PREFETCH_LANDMARK, r.items.get(0).entry().name());
    }
  }

  private static byte[] blob(ProxyHarness h, Digest d) throws Exception {
    return Files.readAllBytes(h.store.blob(d).orElseThrow().path());
  }
}
