package io.squashproxy.proxy.server;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Broken and hostile images pulled by tag through the real listener. One row per bad image, with what the
 * proxy must do:
 *
 * <ul>
 *   <li>REFUSED: the image is broken (corrupt or truncated compression, not a tar, diff_id mismatch, names
 *       escaping the root, a broken manifest or config): {@code 400 MANIFEST_INVALID}, a message naming image,
 *       layer and entry, and the same in {@code detail}. A broken layer is never served as if it were good.
 *   <li>PASSED: valid but not squashable (over {@code limits.maxImageSize}, declared or when unpacked, a media
 *       type that is not merged, sparse files): the original manifest, as the README promises.
 *   <li>SQUASHED: hostile but valid (symlinks pointing outside the root): squashed, kept as data.
 * </ul>
 *
 * After every row the proxy still serves a good image, and nothing is left in the cache's temporary
 * directory or written outside the cache.
 */
class ImageBadInputTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final long MAX_IMAGE_SIZE = 2L << 20;
  static final String ACCEPT = String.join(", ", MediaTypes.OCI_MANIFEST, MediaTypes.DOCKER_MANIFEST,
      MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST_LIST);
  static final LayerBuilder BASE = layer().dir("etc").file("etc/os-release", "ID=test").file("bin/sh", "elf");

  @TempDir
  static Path dir;
  static InMemoryRegistry upstream;
  static ProxyHarness harness;
  static LiveProxy proxy;
  static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    upstream = new InMemoryRegistry("up");
    upstream.push("good/app", "1", TestImage.oci().layer(BASE).layer(layer().file("app", "ok")).build());
    harness = new ProxyHarness(upstream, dir.resolve("cache"), ProxyHarness.squashAll(), 1L << 40, MAX_IMAGE_SIZE);
    proxy = new LiveProxy(harness, 30);
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (harness != null) {
      harness.close();
    }
  }

  enum Outcome { REFUSED, PASSED, SQUASHED }

  /**
   * A bad image: how to make it; what must happen; for REFUSED, the layer index (-1: none) and entry
   * (null: none) the error must name and a word its message must contain.
   */
  record Row(String name, Function<String, Digest> push, Outcome outcome, int layer, String entry, String word) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Row refused(String name, TestImage image, int layer, String entry, String word) {
    return new Row(name, repo -> upstream.push(repo, "1", image), Outcome.REFUSED, layer, entry, word);
  }

  static Row refusedManifest(String name, byte[] manifest, TestImage blobsFrom, String word) {
    return new Row(name, repo -> {
      upstream.push(repo, "blobs", blobsFrom);
      return upstream.pushManifest(repo, "1", manifest, MediaTypes.OCI_MANIFEST);
    }, Outcome.REFUSED, -1, null, word);
  }

  static Row passed(String name, TestImage image) {
    return new Row(name, repo -> upstream.push(repo, "1", image), Outcome.PASSED, -1, null, null);
  }

  static Row squashed(String name, TestImage image) {
    return new Row(name, repo -> upstream.push(repo, "1", image), Outcome.SQUASHED, -1, null, null);
  }

  static byte[] randomBytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Enough content that truncation lands inside an entry. */
  static byte[] bigTar() {
    return layer().file("data/first", "x").file("data/random.bin", randomBytes(200_000, 1)).file("data/last", "y")
        .tar();
  }

  static TestImage withSecond(byte[] tar, byte[] blob, String mediaType) {
    return TestImage.oci().layer(BASE).rawLayer(tar, blob, mediaType).layer(layer().file("z", "z")).build();
  }

  static TestImage twoLayers(java.util.function.Consumer<ObjectNode> editManifest,
      java.util.function.Consumer<ObjectNode> editConfig) {
    return TestImage.oci().layer(BASE).layer(layer().file("a", "a")).editManifest(editManifest)
        .editConfig(editConfig).build();
  }

  static ObjectNode layerOf(ObjectNode manifest, int i) {
    return (ObjectNode) manifest.get("layers").get(i);
  }

  static Stream<Row> rows() {
    byte[] tar = bigTar();
    byte[] gz = Blobs.gzip(tar);
    byte[] flipped = gz.clone();
    for (int i = gz.length / 3; i < gz.length / 3 + 64; i++) {
      flipped[i] ^= 0x5a;
    }
    byte[] zst = Blobs.zstd(tar);
    byte[] zstFlipped = zst.clone();
    for (int i = zst.length / 2; i < zst.length / 2 + 16; i++) {
      zstFlipped[i] ^= 0x21;
    }
    byte[] junk = "not a tar archive at all ".repeat(50).getBytes(StandardCharsets.US_ASCII);
    byte[] badChecksum = layer().file("f", "x").tar();
    badChecksum[150] ^= 0x01; // the checksum field itself
    // 16 MiB of zeros: about 16 KiB of gzip, eight times limits.maxImageSize unpacked.
    byte[] bomb = layer().file("zeros", new byte[16 << 20]).tar();
    byte[] bombGz = Blobs.gzip(bomb);
    byte[] incompressible = layer().file("big", randomBytes((int) MAX_IMAGE_SIZE + (1 << 20), 2)).tar();
    TestImage good = TestImage.oci().layer(BASE).layer(layer().file("a", "a")).build();
    ObjectNode negative = good.manifestJson().deepCopy();
    layerOf(negative, 1).put("size", -1);
    ObjectNode notALong = good.manifestJson().deepCopy();
    layerOf(notALong, 1).put("size", new java.math.BigInteger("100000000000000000000"));
    ObjectNode noLayers = good.manifestJson().deepCopy();
    noLayers.remove("layers");
    ObjectNode layerNotObject = good.manifestJson().deepCopy();
    ((ArrayNode) layerNotObject.get("layers")).set(1, JSON.getNodeFactory().textNode("sha256:abc"));
    TarEntry sparse = new TarEntry("sparse", TarType.GNU_SPARSE, 0644, 0, 0, 0, 0, "", "", "", 0, 0, null);
    return Stream.of(
        // Broken layers: refused, naming the layer (and the entry where the damage shows).
        refused("truncated gzip", withSecond(tar, Arrays.copyOf(gz, gz.length / 2), MediaTypes.OCI_LAYER_GZIP), 1,
            "data/random.bin", "truncated"),
        refused("corrupt gzip", withSecond(tar, flipped, MediaTypes.OCI_LAYER_GZIP), 1, null, "layer 1"),
        refused("gzip without its trailer", withSecond(tar, Arrays.copyOf(gz, gz.length - 4),
            MediaTypes.OCI_LAYER_GZIP), 1, null, "layer 1"),
        refused("truncated zstd", withSecond(tar, Arrays.copyOf(zst, zst.length / 2), MediaTypes.OCI_LAYER_ZSTD), 1,
            "data/random.bin", "truncated"),
        refused("corrupt zstd", withSecond(tar, zstFlipped, MediaTypes.OCI_LAYER_ZSTD), 1, null, "layer 1"),
        refused("truncated plain tar", withSecond(tar, Arrays.copyOf(tar, 100_000), MediaTypes.OCI_LAYER_TAR), 1,
            "data/random.bin", "truncated"),
        refused("not a tar", withSecond(junk, Blobs.gzip(junk), MediaTypes.OCI_LAYER_GZIP), 1, null, "layer 1"),
        refused("tar header checksum", withSecond(badChecksum, Blobs.gzip(badChecksum), MediaTypes.OCI_LAYER_GZIP), 1,
            null, "checksum"),
        refused("diff_id mismatch", TestImage.oci().layer(BASE).layer(layer().file("a", "a"))
            .diffId(Digest.sha256("other".getBytes(StandardCharsets.UTF_8))).build(), 1, null, "digest"),
        // Hostile names: refused, naming the entry.
        refused("../ escaping the root", TestImage.oci().layer(BASE)
            .layer(layer().file("ok", "fine").file("a/../../etc/passwd", "evil")).build(), 1, "a/../../etc/passwd",
            "escapes the root"),
        refused("absolute name", TestImage.docker().layer(BASE).layer(layer().file("/etc/passwd", "evil")).build(), 1,
            "/etc/passwd", "absolute"),
        refused("hard link out of the root", TestImage.oci().layer(BASE)
            .layer(layer().hardlinkRaw("x", "../../etc/shadow")).build(), 1, "x", "escapes the root"),
        refused("whiteout of ..", TestImage.oci().layer(BASE).layer(layer().file("d/.wh...", "")).build(), 1,
            "d/.wh...", "not allowed"),
        // Broken manifests and configs.
        refusedManifest("negative layer size", negative.toString().getBytes(StandardCharsets.UTF_8), good, "negative"),
        refusedManifest("size beyond a long", notALong.toString().getBytes(StandardCharsets.UTF_8), good, "size"),
        refusedManifest("no layers array", noLayers.toString().getBytes(StandardCharsets.UTF_8), good, "layers"),
        refusedManifest("layer not a descriptor", layerNotObject.toString().getBytes(StandardCharsets.UTF_8), good,
            "layer 1"),
        refusedManifest("manifest not JSON", "{\"schemaVersion\":2,\"layers\":[".getBytes(StandardCharsets.UTF_8),
            good, "manifest"),
        refused("config without rootfs", twoLayers(m -> { }, c -> c.remove("rootfs")), -1, null, "rootfs"),
        refused("config without diff_ids", twoLayers(m -> { }, c -> ((ObjectNode) c.get("rootfs")).remove("diff_ids")),
            -1, null, "diff_ids"),
        refused("config with fewer diff_ids than layers", twoLayers(m -> { },
            c -> ((ArrayNode) c.get("rootfs").get("diff_ids")).remove(0)), -1, null, "diff_ids"),
        refused("config diff_id not a digest", twoLayers(m -> { },
            c -> ((ArrayNode) c.get("rootfs").get("diff_ids")).set(0, JSON.getNodeFactory().textNode("nope"))), -1,
            null, "diff_ids"),
        refused("blob longer than declared", twoLayers(m -> layerOf(m, 1).put("size", layerOf(m, 1).get("size")
            .asLong() - 10), c -> { }), 1, null, "size"),
        // Valid but not squashed: the original is served.
        passed("decompression bomb", TestImage.oci().layer(BASE).rawLayer(bomb, bombGz, MediaTypes.OCI_LAYER_GZIP)
            .layer(layer().file("z", "z")).build()),
        passed("declared sizes over the limit", TestImage.oci().layer(BASE).compression(Compression.Algorithm.NONE)
            .layer(incompressible).layer(layer().file("z", "z")).build()),
        passed("declared size of 2^63-1", twoLayers(m -> layerOf(m, 1).put("size", Long.MAX_VALUE), c -> { })),
        passed("non-distributable layer", twoLayers(m -> layerOf(m, 1).put("mediaType",
            MediaTypes.OCI_LAYER_NONDIST_GZIP), c -> { })),
        passed("sparse file", TestImage.oci().layer(BASE).layer(layer().entry(sparse, null)).build()),
        // Hostile but valid: squashed, the links kept as data and never followed.
        squashed("symlinks out of the root", TestImage.oci().layer(BASE)
            .layer(layer().symlink("etc/passwd-link", "/etc/passwd").symlink("up", "../../../../../etc/shadow"))
            .layer(layer().file("z", "z")).build()));
  }

  static HttpResponse<byte[]> get(String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create(proxy.url() + path)).header("Accept", ACCEPT)
        .timeout(Duration.ofSeconds(60)).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  static String slug(String name) {
    return "bad/" + name.toLowerCase().replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void aBadImageFailsCleanlyOrPassesThroughAndTheProxyKeepsServing(Row row) throws Exception {
    long passwd = Files.size(Path.of("/etc/passwd"));
    String repo = slug(row.name());
    Digest source = row.push().apply(repo);
    Map<Digest, Integer> blobGetsBefore = new HashMap<>(upstreamBlobGets());

    HttpResponse<byte[]> r = get("/v2/" + repo + "/manifests/1");
    String body = new String(r.body(), StandardCharsets.UTF_8);
    switch (row.outcome()) {
      case REFUSED -> {
        assertEquals(400, r.statusCode(), body);
        JsonNode err = JSON.readTree(r.body()).path("errors").get(0);
        assertEquals("MANIFEST_INVALID", err.path("code").asText(), body);
        String message = err.path("message").asText();
        assertTrue(message.contains(repo + "@" + source), "names the image: " + message);
        assertTrue(message.contains(row.word()), "says what is wrong (" + row.word() + "): " + message);
        assertEquals(repo + "@" + source, err.path("detail").path("image").asText(), body);
        if (row.layer() >= 0) {
          String layerDigest = JSON.readTree(upstream.manifest(repo, "1").orElseThrow().bytes())
              .get("layers").get(row.layer()).get("digest").asText();
          assertTrue(message.contains("layer " + row.layer() + " (" + layerDigest + ")"), message);
          assertEquals(layerDigest, err.path("detail").path("layer").asText(), body);
        }
        if (row.entry() != null) {
          assertTrue(message.contains("'" + row.entry() + "'"), "names the entry: " + message);
          assertEquals(row.entry(), err.path("detail").path("entry").asText(), body);
        }
        assertTrue(!body.contains("Exception") && !body.contains("\tat "), body);
        // A HEAD (docker's first request) gets the same status, and asking again does not change the answer.
        HttpResponse<Void> head = http.send(HttpRequest.newBuilder(URI.create(proxy.url() + "/v2/" + repo
            + "/manifests/1")).header("Accept", ACCEPT).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
            HttpResponse.BodyHandlers.discarding());
        assertEquals(400, head.statusCode());
      }
      case PASSED -> {
        assertEquals(200, r.statusCode(), body);
        assertEquals(source.toString(), r.headers().firstValue("Docker-Content-Digest").orElseThrow(),
            "the original manifest");
        assertEquals(source, Digest.sha256(r.body()));
        if (row.name().startsWith("declared")) {
          assertEquals(blobGetsBefore, upstreamBlobGets(), "no layer downloaded for a squash that cannot happen");
        }
      }
      case SQUASHED -> {
        assertEquals(200, r.statusCode(), body);
        JsonNode m = JSON.readTree(r.body());
        assertNotEquals(source.toString(), r.headers().firstValue("Docker-Content-Digest").orElseThrow());
        assertEquals(1, m.get("layers").size());
        HttpResponse<byte[]> layer = get("/v2/" + repo + "/blobs/" + m.get("layers").get(0).get("digest").asText());
        assertEquals(200, layer.statusCode());
        Map<String, String> links = symlinks(layer.body());
        assertEquals("/etc/passwd", links.get("etc/passwd-link"), links.toString());
        assertEquals("../../../../../etc/shadow", links.get("up"), links.toString());
      }
    }
    assertNothingLeftBehind();
    assertEquals(passwd, Files.size(Path.of("/etc/passwd")));
    // The proxy keeps serving.
    HttpResponse<byte[]> ok = get("/v2/good/app/manifests/1");
    assertEquals(200, ok.statusCode(), new String(ok.body(), StandardCharsets.UTF_8));
  }

  @Test
  void aPullByTheOriginalDigestOfABrokenImageStillGetsTheUpstreamDocument() throws Exception {
    TestImage img = withSecond(bigTar(), Arrays.copyOf(Blobs.gzip(bigTar()), 5000), MediaTypes.OCI_LAYER_GZIP);
    Digest d = upstream.push("bad/pinned", "1", img);
    assertEquals(400, get("/v2/bad/pinned/manifests/1").statusCode());
    HttpResponse<byte[]> pinned = get("/v2/bad/pinned/manifests/" + d);
    assertEquals(200, pinned.statusCode());
    assertEquals(d, Digest.sha256(pinned.body()), "byte-exact, as for every other digest the proxy did not make");
    assertNothingLeftBehind();
  }

  private static Map<Digest, Integer> upstreamBlobGets() {
    Map<Digest, Integer> m = new HashMap<>();
    upstream.blobGets.forEach((k, v) -> m.put(k, v.get()));
    return m;
  }

  /** No temporary file in the cache, and nothing anywhere but the cache under the test's directory. */
  static void assertNothingLeftBehind() throws IOException {
    try (Stream<Path> s = Files.walk(harness.store.tmpDir())) {
      List<Path> left = s.filter(p -> !Files.isDirectory(p)).toList();
      assertEquals(List.of(), left, "temporary files left in the cache");
    }
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(dir.resolve("cache")), s.toList(), "files written outside the cache");
    }
    try (Stream<Path> s = Files.walk(dir)) {
      assertEquals(List.of(), s.filter(Files::isSymbolicLink).toList(), "a symlink made on disk");
    }
  }

  static Map<String, String> symlinks(byte[] gzipLayer) throws IOException {
    Map<String, String> out = new HashMap<>();
    try (InputStream in = Compression.decompress(new ByteArrayInputStream(gzipLayer));
        TarReader tar = new TarReader(in)) {
      for (TarEntry e = tar.next(); e != null; e = tar.next()) {
        if (e.type() == TarType.SYMLINK) {
          out.put(e.name(), e.linkName());
        }
      }
    }
    return out;
  }
}
