package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.exactly;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static io.squashproxy.proxy.upstream.JibUpstreamBearerAuthTest.assertNoCredentials;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.net.URI;
import org.junit.jupiter.api.Test;

/** Upstream failures and how they surface: status, Retry-After, unreachable(), and no credentials in text. */
class JibUpstreamErrorTest extends WireMockRegistrySupport {

  @Test
  void rateLimitIs429WithRetryAfter() {
    anonymousRegistry();
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(429)
        .withHeader("Retry-After", "30")
        .withHeader("Content-Type", "application/json")
        .withBody("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"pull rate limit\"}]}")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(429, e.status());
    assertEquals("30", e.retryAfter());
    assertFalse(e.unreachable());
    assertTrue(e.getMessage().contains("pull rate limit"), e.getMessage());
    // A 429 is not retried.
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }

  @Test
  void rateLimitOnHeadToo() {
    anonymousRegistry();
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(429)
        .withHeader("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().headManifest(REPO, "latest"));

    assertEquals(429, e.status());
    assertEquals("Wed, 21 Oct 2026 07:28:00 GMT", e.retryAfter());
  }

  @Test
  void serviceUnavailableIsUnreachable() {
    anonymousRegistry();
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(503)
        .withBody("upstream is down")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(503, e.status());
    assertTrue(e.unreachable());
    assertNull(e.retryAfter());
    assertTrue(e.getMessage().contains("upstream is down"), e.getMessage());
  }

  @Test
  void serverErrorOnABlobIsUnreachable() {
    anonymousRegistry();
    Digest d = sha256(bytes("x"));
    registry.stubFor(get(urlEqualTo(blobPath(REPO, d))).willReturn(aResponse().withStatus(500)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().blob(REPO, d));

    assertEquals(500, e.status());
    assertTrue(e.unreachable());
  }

  @Test
  void forbiddenIsNotUnreachable() {
    anonymousRegistry();
    registry.stubFor(get(urlPathEqualTo("/v2/library/busybox/tags/list")).willReturn(aResponse()
        .withStatus(403)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().tags(REPO, null, null));

    assertEquals(403, e.status());
    assertFalse(e.unreachable());
  }

  @Test
  void registryDownAtItsPingIsUnreachableWithItsStatus() {
    // The whole registry answers 503, /v2/ included: the failure happens while authenticating.
    registry.stubFor(get(urlEqualTo("/v2/")).willReturn(aResponse().withStatus(503).withBody("maintenance")));

    UpstreamException e = assertThrows(UpstreamException.class,
        () -> upstream(USER, PASSWORD).manifest(REPO, "latest"));

    assertEquals(503, e.status(), e.getMessage());
    assertTrue(e.unreachable());
    assertNoCredentials(e);
  }

  @Test
  void rateLimitAtThePingKeepsRetryAfter() {
    registry.stubFor(get(urlEqualTo("/v2/")).willReturn(aResponse().withStatus(429).withHeader("Retry-After", "9")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "latest"));

    assertEquals(429, e.status(), e.getMessage());
    assertEquals("9", e.retryAfter());
    assertFalse(e.unreachable());
  }

  @Test
  void connectionRefusedIsStatusZeroAndUnreachable() throws IOException {
    JibUpstream u = track(new JibUpstream(settings("http://127.0.0.1:" + closedPort(), USER, PASSWORD)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> u.manifest(REPO, "latest"));

    assertEquals(0, e.status(), e.getMessage());
    assertTrue(e.unreachable());
    assertNoCredentials(e);
    assertFalse(e.getMessage().contains(USER + ":"), e.getMessage());
  }

  @Test
  void connectionRefusedAfterAuthenticationIsStatusZeroToo() throws IOException {
    // Authentication succeeds; the request itself then cannot connect (a blob redirect to a closed port).
    challengeEverything("Basic realm=\"x\"");
    Digest d = sha256(bytes("x"));
    String target = "http://127.0.0.1:" + closedPort() + "/cdn/blob";
    registry.stubFor(get(urlEqualTo(blobPath(REPO, d))).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(307).withHeader("Location", target)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream(USER, PASSWORD).blob(REPO, d));

    assertEquals(0, e.status(), e.getMessage());
    assertTrue(e.unreachable());
    assertNoCredentials(e);
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(blobPath(REPO, d))));
  }

  @Test
  void settingsNeverPrintCredentials() {
    UpstreamSettings s = new UpstreamSettings("hub", URI.create("https://registry-1.docker.io"), null, true,
        USER, PASSWORD, null, null, null);

    String text = s.toString();

    assertFalse(text.contains(PASSWORD), text);
    assertFalse(text.contains(USER), text);
    assertTrue(text.contains("hub"), text);
    // The record's defaults and validation.
    assertEquals(java.time.Duration.ofSeconds(10), s.connectTimeout());
    assertEquals(java.time.Duration.ofSeconds(60), s.requestTimeout());
    assertEquals("registry-1.docker.io", s.registryHost());
    assertThrows(IllegalArgumentException.class, () -> UpstreamSettings.of("x", "ftp://example.com"));
    assertTrue(UpstreamSettings.of("hub", "https://registry-1.docker.io").dockerHub());
  }

  @Test
  void exceptionClassification() {
    assertTrue(new UpstreamException(0, "x", null, null).unreachable());
    assertTrue(new UpstreamException(502, "x", null, null).unreachable());
    assertFalse(new UpstreamException(404, "x", null, null).unreachable());
    assertFalse(new UpstreamException(429, "x", "5", null).unreachable());
    assertEquals("5", new UpstreamException(429, "x", "5", null).retryAfter());
  }
}
