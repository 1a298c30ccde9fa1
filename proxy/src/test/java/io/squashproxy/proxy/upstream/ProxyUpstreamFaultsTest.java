package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.benmanes.caffeine.cache.Ticker;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.app.SquashProxy;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The assembled proxy in front of a WireMock registry that sends broken content: a blob with the wrong
 * bytes, a blob cut short, a manifest that is not the one asked for. The client gets a 502 in the spec's
 * envelope, nothing from the broken transfer lands in the cache, and the next request, once upstream is
 * healthy, succeeds.
 */
class ProxyUpstreamFaultsTest extends WireMockRegistrySupport {
  static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
  static final TestImage IMAGE = TestImage.docker()
      .layer(layer().file("etc/base", "base layer"))
      .layer(layer().file("app/big", "x".repeat(200_000)))
      .layer(layer().whiteout("app/big").file("app/small", "small"))
      .build();
  static final Digest BROKEN = IMAGE.layerDigests().get(1);

  final HttpClient http = HttpClient.newHttpClient();
  Path cache;
  SquashProxy proxy;

  @BeforeEach
  void startProxy() throws Exception {
    cache = Files.createTempDirectory("faults-cache");
    ProxyConfig config = ConfigLoader.parse(String.join("\n",
        "listen: 127.0.0.1:0",
        "admin: {listen: 127.0.0.1:0}",
        "upstreams: [{name: up, url: '" + base() + "'}]",
        "cache: {directory: '" + cache + "'}",
        // mode all squashes these small images that waste nothing; the wait makes the first pull squashed
        "squash: {rules: [{match: '**', mode: all, wait: 10m}]}",
        "limits:",
        "  upstreamIdleTimeout: 2s",
        "  retry: {attempts: 2, baseDelay: 1ms, maxDelay: 1ms}"), "test.yaml", Map.of());
    proxy = SquashProxy.start(config, null, Ticker.systemTicker());
    anonymousRegistry();
  }

  @AfterEach
  void stopProxy() throws IOException {
    if (proxy != null) {
      proxy.close();
    }
    try (Stream<Path> s = Files.walk(cache)) {
      for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** The image at app:1.0, with {@code layer} answered by {@code broken} until the scenario says "fixed". */
  void serveImage(ResponseDefinitionBuilder broken) {
    String tag = manifestPath("app", "1.0");
    registry.stubFor(head(urlEqualTo(tag)).willReturn(aResponse().withStatus(200)
        .withHeader("Docker-Content-Digest", IMAGE.manifestDigest().toString())
        .withHeader("Content-Type", DOCKER_MANIFEST)
        .withHeader("Content-Length", String.valueOf(IMAGE.manifest().length))));
    registry.stubFor(get(urlEqualTo(manifestPath("app", IMAGE.manifestDigest().toString())))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", DOCKER_MANIFEST)
            .withBody(IMAGE.manifest())));
    registry.stubFor(get(urlEqualTo(blobPath("app", IMAGE.configDigest())))
        .willReturn(aResponse().withStatus(200).withBody(IMAGE.config())));
    for (int i = 0; i < IMAGE.layerDigests().size(); i++) {
      Digest d = IMAGE.layerDigests().get(i);
      ResponseDefinitionBuilder good = aResponse().withStatus(200).withBody(IMAGE.layerBlobs().get(i));
      if (d.equals(BROKEN) && broken != null) {
        registry.stubFor(get(urlEqualTo(blobPath("app", d))).inScenario("layer").whenScenarioStateIs(STARTED)
            .willReturn(broken));
        registry.stubFor(get(urlEqualTo(blobPath("app", d))).inScenario("layer").whenScenarioStateIs("fixed")
            .willReturn(good));
      } else {
        registry.stubFor(get(urlEqualTo(blobPath("app", d))).willReturn(good));
      }
    }
  }

  void fixUpstream() {
    registry.setScenarioState("layer", "fixed");
  }

  HttpResponse<byte[]> pull(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.address().getPort() + path))
        .header("Accept", DOCKER_MANIFEST).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  /** A spec error envelope with {@code code}; returns its message. */
  static String errorMessage(HttpResponse<byte[]> r, String code) throws IOException {
    JsonNode errors = ImageJson.MAPPER.readTree(r.body()).path("errors");
    assertEquals(code, errors.path(0).path("code").asText(), new String(r.body()));
    return errors.path(0).path("message").asText();
  }

  void assertNothingPartialCached(Digest broken) throws IOException {
    assertFalse(Files.exists(cache.resolve("blobs/sha256/" + broken.hex())), "the broken blob was cached");
    try (Stream<Path> tmp = Files.list(cache.resolve("tmp"))) {
      assertEquals(List.of(), tmp.toList(), "work files left behind");
    }
  }

  void assertPullsOnceFixed() throws Exception {
    fixUpstream();
    HttpResponse<byte[]> m = pull("/v2/app/manifests/1.0");
    assertEquals(200, m.statusCode(), new String(m.body()));
    assertNotEquals(IMAGE.manifestDigest().toString(), m.headers().firstValue("Docker-Content-Digest").orElse(""),
        "squashed");
    HttpResponse<byte[]> blob = pull("/v2/app/blobs/" + BROKEN);
    assertEquals(200, blob.statusCode());
    assertArrayEquals(IMAGE.layerBlobs().get(1), blob.body());
  }

  @Test
  void aBlobWithTheWrongBytesIsNotCachedAndTheNextPullSucceeds() throws Exception {
    byte[] wrong = IMAGE.layerBlobs().get(1).clone();
    wrong[wrong.length / 2] ^= 1;
    serveImage(aResponse().withStatus(200).withBody(wrong));

    HttpResponse<byte[]> m = pull("/v2/app/manifests/1.0");
    assertEquals(502, m.statusCode());
    assertTrue(errorMessage(m, "UNKNOWN").contains("does not match its digest"), new String(m.body()));
    HttpResponse<byte[]> b = pull("/v2/app/blobs/" + BROKEN);
    assertEquals(502, b.statusCode());
    errorMessage(b, "UNKNOWN");
    assertNothingPartialCached(BROKEN);

    assertPullsOnceFixed();
  }

  @Test
  void aBlobCutShortIsRetriedThenFailsWithoutCachingAnything() throws Exception {
    byte[] blob = IMAGE.layerBlobs().get(1);
    // Announces the whole length, sends half: the connection closes with the body incomplete.
    serveImage(aResponse().withStatus(200).withHeader("Content-Length", String.valueOf(blob.length))
        .withBody(java.util.Arrays.copyOf(blob, blob.length / 2)));

    HttpResponse<byte[]> b = pull("/v2/app/blobs/" + BROKEN);
    assertEquals(502, b.statusCode(), new String(b.body()));
    assertTrue(errorMessage(b, "UNKNOWN").contains("broke off"), new String(b.body()));
    assertNothingPartialCached(BROKEN);
    assertTrue(metrics().contains("squash_proxy_upstream_retries_total{reason=\"body\",upstream=\"up\"} 1.0"),
        metrics());

    assertPullsOnceFixed();
  }

  @Test
  void aManifestThatIsNotTheOneAskedForIsNotCached() throws Exception {
    serveImage(null);
    Digest asked = Digest.sha256(bytes("{\"schemaVersion\":2,\"the\":\"real one\"}"));
    registry.stubFor(get(urlEqualTo(manifestPath("app", asked.toString())))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", DOCKER_MANIFEST)
            .withBody(IMAGE.manifest())));

    HttpResponse<byte[]> m = pull("/v2/app/manifests/" + asked);
    assertEquals(502, m.statusCode());
    assertTrue(errorMessage(m, "UNKNOWN").contains("has digest " + IMAGE.manifestDigest()), new String(m.body()));
    assertFalse(Files.exists(cache.resolve("manifests/sha256/" + asked.hex())));
    assertFalse(Files.exists(cache.resolve("manifests/sha256/" + IMAGE.manifestDigest().hex())));
  }

  @Test
  void aServerErrorIsRetriedAndCounted() throws Exception {
    serveImage(aResponse().withStatus(503));

    // Two attempts, both 503: the client gets a 502 naming upstream's answer.
    HttpResponse<byte[]> b = pull("/v2/app/blobs/" + BROKEN);
    assertEquals(502, b.statusCode());
    assertTrue(errorMessage(b, "UNKNOWN").contains("answered 503"), new String(b.body()));
    assertTrue(metrics().contains("squash_proxy_upstream_retries_total{reason=\"http_503\",upstream=\"up\"} 1.0"),
        metrics());
    assertNothingPartialCached(BROKEN);

    assertPullsOnceFixed();
  }

  @Test
  void aRateLimitLongerThanTheProxyWaitsGoesToTheClientWithItsRetryAfter() throws Exception {
    serveImage(aResponse().withStatus(429).withHeader("Retry-After", "3600")
        .withBody("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"pull rate limit\"}]}"));

    HttpResponse<byte[]> b = pull("/v2/app/blobs/" + BROKEN);

    assertEquals(429, b.statusCode());
    assertEquals("3600", b.headers().firstValue("Retry-After").orElse(null));
    assertTrue(errorMessage(b, "TOOMANYREQUESTS").contains("pull rate limit"), new String(b.body()));
    assertFalse(metrics().contains("squash_proxy_upstream_retries_total{reason=\"http_429\""), "not waited for");
  }

  String metrics() throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.adminAddress().getPort()
        + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
  }
}
