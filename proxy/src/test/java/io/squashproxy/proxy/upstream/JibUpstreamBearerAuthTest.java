package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.absent;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.exactly;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.headRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.client.MappingBuilder;
import com.github.tomakehurst.wiremock.matching.RequestPatternBuilder;
import com.github.tomakehurst.wiremock.stubbing.StubMapping;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.BlobStream;
import io.squashproxy.proxy.upstream.Upstream.RawManifest;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Docker Hub's flow: {@code /v2/} (and every unauthenticated request) answers 401 with a Bearer challenge;
 * the token endpoint named by its realm issues a token for {@code service} and the repository's pull scope;
 * requests carry it. Includes expiry (401 to a token the registry issued) and a registry that never stops
 * answering 401.
 */
class JibUpstreamBearerAuthTest extends WireMockRegistrySupport {
  static final String SERVICE = "registry.test";
  static final byte[] MANIFEST = bytes("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\"}");

  String challenge() {
    return "Bearer realm=\"" + base() + "/token\",service=\"" + SERVICE
        + "\",scope=\"repository:library/busybox:pull\"";
  }

  @BeforeEach
  void bearerRegistry() {
    challengeEverything(challenge());
  }

  /** The token endpoint, for pull access to {@code repository} (and only that). */
  MappingBuilder tokenRequest(String repository) {
    return get(urlPathEqualTo("/token"))
        .withQueryParam("service", equalTo(SERVICE))
        .withQueryParam("scope", equalTo("repository:" + repository + ":pull"));
  }

  static RequestPatternBuilder tokenRequested() {
    return getRequestedFor(urlPathEqualTo("/token"));
  }

  StubMapping issue(MappingBuilder tokenRequest, String token) {
    return registry.stubFor(tokenRequest.willReturn(okJson("{\"token\":\"" + token + "\",\"expires_in\":300}")));
  }

  /** The manifest, for requests that carry {@code Bearer token}; others fall through to the 401. */
  StubMapping manifestFor(String token) {
    return registry.stubFor(get(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer " + token))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST).withBody(MANIFEST)));
  }

  @Test
  void anonymousTokenFlow() throws IOException {
    issue(tokenRequest(REPO).withHeader("Authorization", absent()), "T1");
    manifestFor("T1");

    RawManifest m = upstream().manifest(REPO, "latest").orElseThrow();

    assertArrayEquals(MANIFEST, m.bytes());
    assertEquals(sha256(MANIFEST), m.digest());
    registry.verify(exactly(1), tokenRequested().withHeader("Authorization", absent()));
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T1")));
  }

  @Test
  void oauthStyleAccessTokenFieldIsAccepted() throws IOException {
    // Some token servers (ghcr.io, ACR) answer with access_token instead of token.
    registry.stubFor(tokenRequest(REPO).willReturn(okJson("{\"access_token\":\"T1\",\"expires_in\":300}")));
    manifestFor("T1");

    assertArrayEquals(MANIFEST, upstream().manifest(REPO, "latest").orElseThrow().bytes());
  }

  @Test
  void configuredCredentialsGoToTheTokenEndpointOnly() throws IOException {
    issue(tokenRequest(REPO).withBasicAuth(USER, PASSWORD), "T1");
    manifestFor("T1");

    RawManifest m = upstream(USER, PASSWORD).manifest(REPO, "latest").orElseThrow();

    assertArrayEquals(MANIFEST, m.bytes());
    registry.verify(exactly(1), tokenRequested()
        .withHeader("Authorization", equalTo("Basic " + basic(USER, PASSWORD))));
    // The registry itself only ever sees the token.
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T1")));
  }

  @Test
  void dockerConfigCredentialsAreUsedWhenNoneAreConfigured() throws IOException {
    dockerConfig(USER, PASSWORD);
    issue(tokenRequest(REPO).withBasicAuth(USER, PASSWORD), "T1");
    manifestFor("T1");

    assertTrue(upstream().manifest(REPO, "latest").isPresent());
    registry.verify(exactly(1), tokenRequested()
        .withHeader("Authorization", equalTo("Basic " + basic(USER, PASSWORD))));
  }

  @Test
  void blobHeadAndTagsCarryTheToken() throws IOException {
    issue(tokenRequest(REPO), "T1");
    byte[] content = bytes("layer bytes");
    Digest d = sha256(content);
    registry.stubFor(get(urlEqualTo(blobPath(REPO, d))).withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(200).withBody(content)));
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST)
            .withHeader("Docker-Content-Digest", sha256(MANIFEST).toString())));
    registry.stubFor(get(urlPathEqualTo("/v2/library/busybox/tags/list"))
        .withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(okJson("{\"name\":\"library/busybox\",\"tags\":[\"latest\"]}")));
    JibUpstream u = upstream();

    try (BlobStream b = u.blob(REPO, d).orElseThrow(); InputStream in = b.body()) {
      assertArrayEquals(content, in.readAllBytes());
    }
    assertEquals(sha256(MANIFEST), u.headManifest(REPO, "latest").orElseThrow().digest());
    assertTrue(u.tags(REPO, 10, null).isPresent());
    // One token serves all three requests for the repository.
    registry.verify(exactly(1), tokenRequested());
  }

  @Test
  void eachRepositoryGetsItsOwnScope() throws IOException {
    issue(tokenRequest(REPO), "T-busybox");
    issue(tokenRequest("library/alpine"), "T-alpine");
    manifestFor("T-busybox");
    registry.stubFor(get(urlEqualTo(manifestPath("library/alpine", "3")))
        .withHeader("Authorization", equalTo("Bearer T-alpine"))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST).withBody(MANIFEST)));
    JibUpstream u = upstream();

    assertTrue(u.manifest(REPO, "latest").isPresent());
    assertTrue(u.manifest("library/alpine", "3").isPresent());
    assertTrue(u.manifest(REPO, "latest").isPresent());

    registry.verify(exactly(1), tokenRequested()
        .withQueryParam("scope", equalTo("repository:library/busybox:pull")));
    registry.verify(exactly(1), tokenRequested()
        .withQueryParam("scope", equalTo("repository:library/alpine:pull")));
  }

  @Test
  void expiredTokenIsRenewedOnce() throws IOException {
    StubMapping t1 = issue(tokenRequest(REPO), "T1");
    StubMapping withT1 = manifestFor("T1");
    JibUpstream u = upstream();
    assertTrue(u.manifest(REPO, "latest").isPresent());

    // T1 expires: the registry now answers 401 to it, and the token endpoint issues T2.
    registry.removeStub(withT1);
    registry.removeStub(t1);
    issue(tokenRequest(REPO), "T2");
    manifestFor("T2");

    RawManifest m = u.manifest(REPO, "latest").orElseThrow();

    assertArrayEquals(MANIFEST, m.bytes());
    registry.verify(exactly(2), tokenRequested());
    registry.verify(exactly(2), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T1")));
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T2")));
  }

  @Test
  void expiredTokenOnHeadIsRenewedToo() throws IOException {
    StubMapping t1 = issue(tokenRequest(REPO), "T1");
    StubMapping withT1 = manifestFor("T1");
    JibUpstream u = upstream();
    assertTrue(u.manifest(REPO, "latest").isPresent());

    registry.removeStub(withT1);
    registry.removeStub(t1);
    issue(tokenRequest(REPO), "T2");
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T2"))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST)
            .withHeader("Docker-Content-Digest", sha256(MANIFEST).toString())));

    assertEquals(sha256(MANIFEST), u.headManifest(REPO, "latest").orElseThrow().digest());
    registry.verify(exactly(1), headRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Authorization", equalTo("Bearer T1")));
  }

  @Test
  void registryThatKeepsRefusingYields401WithoutLooping() {
    // Tokens are issued, but the registry answers 401 to every one of them.
    issue(tokenRequest(REPO), "T1");

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(401, e.status());
    assertFalse(e.unreachable());
    // One request, one re-authentication, one retry: no more.
    registry.verify(exactly(2), tokenRequested());
    registry.verify(exactly(2), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }

  @Test
  void tokenEndpointRefusingTheCredentialsYields401WithoutThem() {
    registry.stubFor(get(urlPathEqualTo("/token")).willReturn(aResponse().withStatus(401)
        .withHeader("Content-Type", "application/json")
        .withBody("{\"details\":\"incorrect username or password\"}")));

    UpstreamException e = assertThrows(UpstreamException.class,
        () -> upstream(USER, PASSWORD).manifest(REPO, "latest"));

    assertEquals(401, e.status());
    assertFalse(e.unreachable());
    assertNoCredentials(e);
  }

  @Test
  void tokenEndpointOutageIsUnreachableNotDenied() {
    registry.stubFor(get(urlPathEqualTo("/token")).willReturn(aResponse().withStatus(503)
        .withBody("down for maintenance")));

    UpstreamException e = assertThrows(UpstreamException.class,
        () -> upstream(USER, PASSWORD).manifest(REPO, "latest"));

    assertEquals(503, e.status(), e.getMessage());
    assertTrue(e.unreachable());
    assertNoCredentials(e);
  }

  @Test
  void tokenEndpointRateLimitIs429WithRetryAfter() {
    registry.stubFor(get(urlPathEqualTo("/token")).willReturn(aResponse().withStatus(429)
        .withHeader("Retry-After", "17")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(429, e.status(), e.getMessage());
    assertEquals("17", e.retryAfter());
  }

  static void assertNoCredentials(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String text = String.valueOf(t.getMessage());
      assertFalse(text.contains(PASSWORD), text);
      assertFalse(text.contains(basic(USER, PASSWORD)), text);
    }
  }
}
