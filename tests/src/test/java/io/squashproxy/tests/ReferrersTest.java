package io.squashproxy.tests;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.RegistryPush;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Referrers (OCI distribution spec 1.1) through the proxy, in front of a real Distribution registry 2.8.2,
 * which has no referrers API (it answers 404), so clients that push signatures and SBOMs write the referrers
 * tag schema's index at tag {@code sha256-<hex>}; that is pushed here by HTTP as they do. Through the proxy,
 * {@code GET /v2/<name>/referrers/<digest>} answers that index's descriptors (filtered by
 * {@code artifactType}, saying so in {@code OCI-Filters-Applied}), an empty index for a digest nothing refers
 * to, and for the squashed digest the referrers of the image it was squashed from.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ReferrersTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String REPO = "app/signed";
  static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  static final String EMPTY = "application/vnd.oci.empty.v1+json";
  static final String SIGNATURE = "application/vnd.example.signature.v1+json";
  static final String SBOM = "application/spdx+json";

  static DistributionRegistry registry;
  static ProxyProcess proxy;
  static Digest image;
  static Digest unsigned;
  static final List<ObjectNode> descriptors = new ArrayList<>();
  static final List<byte[]> artifacts = new ArrayList<>();

  @BeforeAll
  static void setUp() throws Exception {
    Env.squashJar();
    registry = DistributionRegistry.start();
    String host = registry.host();
    TestImage img = TestImage.oci()
        .layer(layer().file("etc/base", "base"))
        .layer(layer().file("app/bin", "binary"))
        .build();
    image = RegistryPush.push(host, REPO, "1", img);
    unsigned = RegistryPush.push(host, REPO, "2", TestImage.oci()
        .layer(layer().file("etc/other", "other")).layer(layer().file("x", "y")).build());

    // A signature and an SBOM whose subject is the image, as OCI 1.1 artifacts (empty config).
    byte[] emptyConfig = "{}".getBytes(StandardCharsets.UTF_8);
    RegistryPush.blob(host, REPO, Digest.sha256(emptyConfig), emptyConfig);
    ObjectNode subject = descriptor(OCI_MANIFEST, image, img.manifest().length);
    for (String type : List.of(SIGNATURE, SBOM)) {
      byte[] payload = ("payload of " + type + " for " + image).getBytes(StandardCharsets.UTF_8);
      RegistryPush.blob(host, REPO, Digest.sha256(payload), payload);
      ObjectNode m = JSON.createObjectNode();
      m.put("schemaVersion", 2);
      m.put("mediaType", OCI_MANIFEST);
      m.put("artifactType", type);
      m.set("config", descriptor(EMPTY, Digest.sha256(emptyConfig), emptyConfig.length));
      m.putArray("layers").add(descriptor(type, Digest.sha256(payload), payload.length));
      m.set("subject", subject);
      m.putObject("annotations").put("org.opencontainers.image.created", "2026-12-01T00:00:00Z");
      byte[] bytes = JSON.writeValueAsBytes(m);
      Digest d = RegistryPush.manifest(host, REPO, Digest.sha256(bytes).toString(), OCI_MANIFEST, bytes);
      ObjectNode listed = descriptor(OCI_MANIFEST, d, bytes.length);
      listed.put("artifactType", type);
      listed.set("annotations", m.get("annotations"));
      descriptors.add(listed);
      artifacts.add(bytes);
    }
    ObjectNode index = JSON.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", OCI_INDEX);
    ArrayNode manifests = index.putArray("manifests");
    descriptors.forEach(manifests::add);
    RegistryPush.manifest(host, REPO, "sha256-" + image.hex(), OCI_INDEX, JSON.writeValueAsBytes(index));

    proxy = ProxyProcess.start("http://" + host);
  }

  @AfterAll
  static void tearDown() {
    if (proxy != null) {
      proxy.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  static ObjectNode descriptor(String mediaType, Digest digest, long size) {
    ObjectNode d = JSON.createObjectNode();
    d.put("mediaType", mediaType);
    d.put("digest", digest.toString());
    d.put("size", size);
    return d;
  }

  /** As a client reads it back (number nodes compare by their parsed type). */
  static JsonNode parsed(Object value) throws Exception {
    return JSON.readTree(JSON.writeValueAsBytes(value));
  }

  HttpResponse<byte[]> referrers(Digest digest, String query) {
    return proxy.get("/v2/" + REPO + "/referrers/" + digest + (query == null ? "" : "?" + query), OCI_INDEX);
  }

  static JsonNode index(HttpResponse<byte[]> r) throws Exception {
    assertEquals(200, r.statusCode(), new String(r.body(), StandardCharsets.UTF_8));
    assertEquals(OCI_INDEX, r.headers().firstValue("Content-Type").orElse(""));
    JsonNode index = JSON.readTree(r.body());
    assertEquals(2, index.path("schemaVersion").asInt());
    assertEquals(OCI_INDEX, index.path("mediaType").asText());
    assertTrue(index.path("manifests").isArray(), index.toString());
    return index;
  }

  @Test
  void upstreamWithoutTheApiHasItsFallbackTagIndexServed() throws Exception {
    HttpResponse<byte[]> r = referrers(image, null);
    JsonNode index = index(r);
    assertEquals(parsed(descriptors), index.path("manifests"));
    assertFalse(r.headers().firstValue("OCI-Filters-Applied").isPresent(), "no filter asked, none applied");
  }

  @Test
  void anArtifactTypeFilterIsAppliedAndSaidToBe() throws Exception {
    HttpResponse<byte[]> r = referrers(image, "artifactType=" + SBOM.replace("+", "%2B"));
    JsonNode index = index(r);
    assertEquals(1, index.path("manifests").size(), index.toString());
    assertEquals(parsed(descriptors.get(1)), index.path("manifests").get(0));
    assertEquals("artifactType", r.headers().firstValue("OCI-Filters-Applied").orElse(null));
  }

  @Test
  void aDigestNothingRefersToHasAnEmptyIndex() throws Exception {
    JsonNode index = index(referrers(unsigned, null));
    assertEquals(0, index.path("manifests").size(), index.toString());
    JsonNode unknown = index(referrers(Digest.sha256("nothing".getBytes(StandardCharsets.UTF_8)), null));
    assertEquals(0, unknown.path("manifests").size());
  }

  @Test
  void theSquashedDigestHasTheReferrersOfItsSourceAndTheArtifactsArePullable() throws Exception {
    RawManifest squashed = proxy.manifest(REPO, "1");
    assertNotEquals(image, Digest.sha256(squashed.bytes()), "the tag is served squashed");
    assertEquals(parsed(descriptors), index(referrers(Digest.sha256(squashed.bytes()), null)).path("manifests"));
    // Signature tools then fetch each referrer by digest: passed through byte for byte.
    for (int i = 0; i < artifacts.size(); i++) {
      RawManifest a = proxy.manifest(REPO, descriptors.get(i).path("digest").asText());
      assertArrayEquals(artifacts.get(i), a.bytes());
    }
  }

  @Test
  void aMalformedDigestIsRefusedInTheSpecsEnvelope() throws Exception {
    HttpResponse<byte[]> r = proxy.get("/v2/" + REPO + "/referrers/sha256:nothex", null);
    assertEquals(400, r.statusCode());
    assertEquals("DIGEST_INVALID", JSON.readTree(r.body()).path("errors").get(0).path("code").asText());
  }
}
