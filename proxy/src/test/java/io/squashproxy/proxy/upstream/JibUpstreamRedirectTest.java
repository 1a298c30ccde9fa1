package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.exactly;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.BlobStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Blob GETs that redirect, as Docker Hub's do (to a CDN): the body comes from wherever the redirect points,
 * and the registry's Authorization goes only to the registry's own origin (scheme, host and port).
 */
class JibUpstreamRedirectTest extends WireMockRegistrySupport {
  static final byte[] CONTENT = new byte[64 * 1024];
  static final Digest DIGEST;

  static {
    new Random(42).nextBytes(CONTENT);
    DIGEST = Digest.sha256(CONTENT);
  }

  /** Another port on 127.0.0.1: another origin, like a CDN. */
  WireMockServer storage;

  @BeforeAll
  void startStorage() {
    storage = newServer();
  }

  @BeforeEach
  void bearerRegistry() {
    challengeEverything("Bearer realm=\"" + base() + "/token\",service=\"registry.test\"");
    registry.stubFor(get(urlPathEqualTo("/token")).willReturn(okJson("{\"token\":\"T1\"}")));
  }

  private void redirectBlob(int status, String location) {
    registry.stubFor(get(urlEqualTo(blobPath(REPO, DIGEST))).withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(status).withHeader("Location", location)));
  }

  private byte[] readBlob(JibUpstream u) throws IOException {
    try (BlobStream b = u.blob(REPO, DIGEST).orElseThrow(); InputStream in = b.body()) {
      return in.readAllBytes();
    }
  }

  @Test
  void redirectToAnotherOriginStreamsFromThereWithoutAuthorization() throws IOException {
    String signed = "/blobs/sha256/" + DIGEST.hex() + "/data?X-Amz-Signature=abc&expires=1";
    redirectBlob(307, base(storage) + signed);
    storage.stubFor(get(urlEqualTo(signed)).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", "application/octet-stream").withBody(CONTENT)));

    assertArrayEquals(CONTENT, readBlob(upstream()));

    registry.verify(exactly(1), getRequestedFor(urlEqualTo(blobPath(REPO, DIGEST)))
        .withHeader("Authorization", equalTo("Bearer T1")));
    storage.verify(exactly(1), getRequestedFor(urlEqualTo(signed)));
    storage.verify(getRequestedFor(urlEqualTo(signed)).withoutHeader("Authorization"));
  }

  @Test
  void basicCredentialsDoNotLeaveTheRegistryEither() throws IOException {
    registry.resetAll();
    challengeEverything("Basic realm=\"x\"");
    registry.stubFor(get(urlEqualTo(blobPath(REPO, DIGEST))).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(302).withHeader("Location", base(storage) + "/cdn/blob")));
    storage.stubFor(get(urlEqualTo("/cdn/blob")).willReturn(aResponse().withStatus(200).withBody(CONTENT)));

    assertArrayEquals(CONTENT, readBlob(upstream(USER, PASSWORD)));

    storage.verify(exactly(1), getRequestedFor(urlEqualTo("/cdn/blob")).withoutHeader("Authorization"));
  }

  @Test
  void redirectChainAcrossOriginsNeverCarriesAuthorizationOutside() throws IOException {
    // registry -> storage -> storage (relative Location): both storage hops go without Authorization.
    redirectBlob(307, base(storage) + "/first");
    storage.stubFor(get(urlEqualTo("/first")).willReturn(aResponse().withStatus(302)
        .withHeader("Location", "/second?sig=1")));
    storage.stubFor(get(urlEqualTo("/second?sig=1")).willReturn(aResponse().withStatus(200).withBody(CONTENT)));

    assertArrayEquals(CONTENT, readBlob(upstream()));

    storage.verify(exactly(1), getRequestedFor(urlEqualTo("/first")).withoutHeader("Authorization"));
    storage.verify(exactly(1), getRequestedFor(urlEqualTo("/second?sig=1")).withoutHeader("Authorization"));
  }

  @Test
  void redirectToTheSameOriginKeepsAuthorization() throws IOException {
    redirectBlob(307, "/v2/library/busybox/blob-data/" + DIGEST.hex());
    registry.stubFor(get(urlEqualTo("/v2/library/busybox/blob-data/" + DIGEST.hex()))
        .withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(200).withBody(CONTENT)));

    assertArrayEquals(CONTENT, readBlob(upstream()));

    registry.verify(exactly(1), getRequestedFor(urlEqualTo("/v2/library/busybox/blob-data/" + DIGEST.hex()))
        .withHeader("Authorization", equalTo("Bearer T1")));
  }

  @Test
  void absoluteRedirectToTheSameOriginKeepsAuthorization() throws IOException {
    redirectBlob(301, base() + "/v2/library/busybox/moved");
    registry.stubFor(get(urlEqualTo("/v2/library/busybox/moved"))
        .withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(200).withBody(CONTENT)));

    assertArrayEquals(CONTENT, readBlob(upstream()));
  }

  @Test
  void redirectLoopsEnd() {
    redirectBlob(307, blobPath(REPO, DIGEST));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().blob(REPO, DIGEST));

    assertEquals(502, e.status());
  }

  @Test
  void redirectWithoutLocationIsAnError() {
    registry.stubFor(get(urlEqualTo(blobPath(REPO, DIGEST))).withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(307)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().blob(REPO, DIGEST));

    assertEquals(502, e.status());
  }

  @Test
  void notFoundAtTheRedirectTargetIsEmpty() throws IOException {
    redirectBlob(307, base(storage) + "/gone");
    notFoundByDefault(storage);

    assertEquals(java.util.Optional.empty(), upstream().blob(REPO, DIGEST));
  }
}
