package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.exactly;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.headRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static io.squashproxy.proxy.upstream.JibUpstreamBearerAuthTest.assertNoCredentials;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.BlobStream;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A registry that wants {@code Authorization: Basic} on every request ({@code WWW-Authenticate: Basic}). */
class JibUpstreamBasicAuthTest extends WireMockRegistrySupport {
  static final byte[] MANIFEST = bytes("{\"schemaVersion\":2}");

  @BeforeEach
  void basicRegistry() {
    challengeEverything("Basic realm=\"x\"");
  }

  private void stubContent(Digest blob, byte[] content) {
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "latest"))).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST).withBody(MANIFEST)));
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest"))).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST)
            .withHeader("Docker-Content-Digest", sha256(MANIFEST).toString())));
    registry.stubFor(get(urlEqualTo(blobPath(REPO, blob))).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(200).withBody(content)));
    registry.stubFor(get(urlPathEqualTo("/v2/library/busybox/tags/list")).withBasicAuth(USER, PASSWORD)
        .willReturn(okJson("{\"name\":\"library/busybox\",\"tags\":[\"latest\"]}")));
  }

  @Test
  void everyRequestCarriesBasicCredentials() throws IOException {
    byte[] content = bytes("a layer");
    Digest d = sha256(content);
    stubContent(d, content);
    JibUpstream u = upstream(USER, PASSWORD);

    assertArrayEquals(MANIFEST, u.manifest(REPO, "latest").orElseThrow().bytes());
    assertEquals(sha256(MANIFEST), u.headManifest(REPO, "latest").orElseThrow().digest());
    try (BlobStream b = u.blob(REPO, d).orElseThrow(); InputStream in = b.body()) {
      assertArrayEquals(content, in.readAllBytes());
    }
    assertTrue(u.tags(REPO, null, null).isPresent());

    String expected = "Basic " + basic(USER, PASSWORD);
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo(expected)));
    registry.verify(exactly(1), headRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo(expected)));
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(blobPath(REPO, d)))
        .withHeader("Authorization", equalTo(expected)));
    registry.verify(exactly(1), getRequestedFor(urlPathEqualTo("/v2/library/busybox/tags/list"))
        .withHeader("Authorization", equalTo(expected)));
    // No token endpoint exists here, and none was looked for.
    registry.verify(exactly(0), getRequestedFor(urlPathMatching("/token.*")));
  }

  @Test
  void dockerConfigCredentialsAreUsedWhenNoneAreConfigured() throws IOException {
    dockerConfig(USER, PASSWORD);
    byte[] content = bytes("a layer");
    stubContent(sha256(content), content);

    assertArrayEquals(MANIFEST, upstream().manifest(REPO, "latest").orElseThrow().bytes());
    registry.verify(getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Basic " + basic(USER, PASSWORD))));
  }

  @Test
  void withoutCredentialsTheRegistrysRefusalIs401() {
    byte[] content = bytes("a layer");
    stubContent(sha256(content), content);

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(401, e.status());
    registry.verify(exactly(2), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }

  @Test
  void wrongCredentialsAre401WithoutThemInTheMessage() {
    byte[] content = bytes("a layer");
    stubContent(sha256(content), content);

    UpstreamException e = assertThrows(UpstreamException.class,
        () -> upstream(USER, "wrong-" + PASSWORD).manifest(REPO, "latest"));

    assertEquals(401, e.status());
    assertNoCredentials(e);
    assertTrue(!e.getMessage().contains(basic(USER, "wrong-" + PASSWORD)), e.getMessage());
    assertTrue(!e.getMessage().contains("wrong-" + PASSWORD), e.getMessage());
    registry.verify(exactly(2), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }
}
