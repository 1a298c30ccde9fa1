package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.absent;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.exactly;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.headRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.client.MappingBuilder;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.BlobStream;
import io.squashproxy.proxy.upstream.Upstream.ManifestHead;
import io.squashproxy.proxy.upstream.Upstream.RawManifest;
import io.squashproxy.proxy.upstream.Upstream.TagPage;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A registry whose {@code /v2/} answers 200: no authentication, the plain request/response contract. */
class JibUpstreamAnonymousTest extends WireMockRegistrySupport {

  /** Odd whitespace, CRLF, tabs, unusual field order and a trailing newline: must survive byte for byte. */
  static final byte[] ODD_MANIFEST = bytes("{\r\n\t\"layers\" : [ ],\n   \"mediaType\":\""
      + OCI_MANIFEST + "\",   \"schemaVersion\":2 ,\"config\":{\"size\":2,\n\"digest\":\"sha256:"
      + "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"mediaType\":"
      + "\"application/vnd.oci.image.config.v1+json\"}  }\n\n");

  @BeforeEach
  void anonymous() {
    anonymousRegistry();
  }

  private void stubManifest(MappingBuilder request, byte[] body, String mediaType) {
    registry.stubFor(request.willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", mediaType)
        .withHeader("Docker-Content-Digest", sha256(body).toString())
        .withBody(body)));
  }

  @Test
  void manifestByTagIsByteExactWithMediaTypeAndDigest() throws IOException {
    stubManifest(get(urlEqualTo(manifestPath(REPO, "latest"))), ODD_MANIFEST, OCI_MANIFEST);

    RawManifest m = upstream().manifest(REPO, "latest").orElseThrow();

    assertArrayEquals(ODD_MANIFEST, m.bytes());
    assertEquals(OCI_MANIFEST, m.mediaType());
    assertEquals(sha256(ODD_MANIFEST), m.digest());
    // Every manifest type is accepted, and nothing is sent as Authorization to an anonymous registry.
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Accept", containing("application/vnd.oci.image.index.v1+json"))
        .withHeader("Accept", containing("application/vnd.docker.distribution.manifest.list.v2+json"))
        .withHeader("Accept", containing("application/vnd.oci.image.manifest.v1+json"))
        .withHeader("Accept", containing("application/vnd.docker.distribution.manifest.v2+json"))
        .withHeader("Authorization", absent()));
  }

  @Test
  void manifestByDigestIsVerified() throws IOException {
    Digest d = sha256(ODD_MANIFEST);
    stubManifest(get(urlEqualTo(manifestPath(REPO, d.toString()))), ODD_MANIFEST, OCI_MANIFEST);

    RawManifest m = upstream().manifest(REPO, d.toString()).orElseThrow();

    assertArrayEquals(ODD_MANIFEST, m.bytes());
    assertEquals(d, m.digest());
  }

  @Test
  void manifestBySha512DigestIsVerifiedInSha512() throws IOException {
    Digest d = Digest.of(Digest.SHA512, Digest.newMessageDigest(Digest.SHA512).digest(ODD_MANIFEST));
    stubManifest(get(urlEqualTo(manifestPath(REPO, d.toString()))), ODD_MANIFEST, OCI_MANIFEST);
    Digest other = Digest.of(Digest.SHA512, Digest.newMessageDigest(Digest.SHA512).digest(bytes("{}")));
    stubManifest(get(urlEqualTo(manifestPath(REPO, other.toString()))), ODD_MANIFEST, OCI_MANIFEST);
    JibUpstream u = upstream();

    RawManifest m = u.manifest(REPO, d.toString()).orElseThrow();

    assertArrayEquals(ODD_MANIFEST, m.bytes());
    assertEquals(sha256(ODD_MANIFEST), m.digest());
    UpstreamException e = assertThrows(UpstreamException.class, () -> u.manifest(REPO, other.toString()));
    assertEquals(502, e.status());
    assertTrue(e.getMessage().contains(d.toString()), e.getMessage());
  }

  @Test
  void manifestByDigestWithOtherContentFails() {
    byte[] asked = bytes("{\"schemaVersion\":2}");
    byte[] served = bytes("{\"schemaVersion\": 2}");
    Digest d = sha256(asked);
    stubManifest(get(urlEqualTo(manifestPath(REPO, d.toString()))), served, OCI_MANIFEST);

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, d.toString()));

    assertEquals(502, e.status());
    assertTrue(e.getMessage().contains(sha256(served).toString()), e.getMessage());
  }

  @Test
  void manifestLargerThanTheLimitIsRefused() {
    byte[] huge = new byte[JibUpstream.MAX_MANIFEST_BYTES + 1];
    java.util.Arrays.fill(huge, (byte) ' ');
    stubManifest(get(urlEqualTo(manifestPath(REPO, "huge"))), huge, OCI_MANIFEST);

    UpstreamException e = assertThrows(UpstreamException.class, () -> upstream().manifest(REPO, "huge"));

    assertEquals(502, e.status());
  }

  @Test
  void headTakesTheDigestFromDockerContentDigest() throws IOException {
    Digest d = sha256(ODD_MANIFEST);
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", OCI_MANIFEST)
        .withHeader("Docker-Content-Digest", d.toString())
        .withHeader("Content-Length", String.valueOf(ODD_MANIFEST.length))));

    ManifestHead h = upstream().headManifest(REPO, "latest").orElseThrow();

    assertEquals(d, h.digest());
    assertEquals(OCI_MANIFEST, h.mediaType());
    assertEquals(ODD_MANIFEST.length, h.size());
    registry.verify(exactly(1), headRequestedFor(urlEqualTo(manifestPath(REPO, "latest")))
        .withHeader("Accept", containing(OCI_MANIFEST)));
    registry.verify(exactly(0), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }

  @Test
  void headWithoutDigestHeaderFallsBackToGet() throws IOException {
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", OCI_MANIFEST)));
    stubManifest(get(urlEqualTo(manifestPath(REPO, "latest"))), ODD_MANIFEST, OCI_MANIFEST);

    ManifestHead h = upstream().headManifest(REPO, "latest").orElseThrow();

    assertEquals(sha256(ODD_MANIFEST), h.digest());
    assertEquals(OCI_MANIFEST, h.mediaType());
    assertEquals(ODD_MANIFEST.length, h.size());
    registry.verify(exactly(1), headRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, "latest"))));
  }

  @Test
  void headWithAnInvalidDigestHeaderFallsBackToGet() throws IOException {
    registry.stubFor(head(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", OCI_MANIFEST)
        .withHeader("Docker-Content-Digest", "md5:abc")));
    stubManifest(get(urlEqualTo(manifestPath(REPO, "latest"))), ODD_MANIFEST, OCI_MANIFEST);

    ManifestHead h = upstream().headManifest(REPO, "latest").orElseThrow();

    assertEquals(sha256(ODD_MANIFEST), h.digest());
  }

  @Test
  void notFoundIsEmpty() throws IOException {
    // WireMock answers 404 to anything without a stub.
    JibUpstream u = upstream();
    Digest d = sha256(bytes("nothing"));

    assertEquals(Optional.empty(), u.manifest(REPO, "missing"));
    assertEquals(Optional.empty(), u.manifest(REPO, d.toString()));
    assertEquals(Optional.empty(), u.headManifest(REPO, "missing"));
    assertEquals(Optional.empty(), u.blob(REPO, d));
    assertEquals(Optional.empty(), u.tags("library/nothing", null, null));
    registry.verify(exactly(1), headRequestedFor(urlEqualTo(manifestPath(REPO, "missing"))));
  }

  @Test
  void blobIsStreamed() throws IOException {
    byte[] content = new byte[100_000];
    new java.util.Random(7).nextBytes(content);
    Digest d = sha256(content);
    registry.stubFor(get(urlEqualTo(blobPath(REPO, d))).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", "application/octet-stream")
        .withBody(content)));

    try (BlobStream b = upstream().blob(REPO, d).orElseThrow(); InputStream in = b.body()) {
      assertArrayEquals(content, in.readAllBytes());
      assertTrue(b.size() == content.length || b.size() == -1, "size " + b.size());
    }
    registry.verify(getRequestedFor(urlEqualTo(blobPath(REPO, d))).withHeader("Authorization", absent()));
  }

  @Test
  void tagsPassNAndLastAndTheLinkHeader() throws IOException {
    byte[] page = bytes("{\"name\":\"library/busybox\",\"tags\":[\"1.36\",\"1.36.1\"]}");
    String link = "</v2/library/busybox/tags/list?n=2&last=1.36.1>; rel=\"next\"";
    registry.stubFor(get(urlPathEqualTo("/v2/library/busybox/tags/list"))
        .withQueryParam("n", equalTo("2"))
        .withQueryParam("last", equalTo("1.35_rc-1"))
        .willReturn(aResponse().withStatus(200)
            .withHeader("Content-Type", "application/json")
            .withHeader("Link", link)
            .withBody(page)));

    TagPage p = upstream().tags(REPO, 2, "1.35_rc-1").orElseThrow();

    assertArrayEquals(page, p.body());
    assertEquals(link, p.link());
  }

  @Test
  void tagsWithoutParametersAndWithoutLink() throws IOException {
    byte[] page = bytes("{\"name\":\"library/busybox\",\"tags\":[\"latest\"]}");
    registry.stubFor(get(urlEqualTo("/v2/library/busybox/tags/list")).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", "application/json").withBody(page)));

    TagPage p = upstream().tags(REPO, null, null).orElseThrow();

    assertArrayEquals(page, p.body());
    assertNull(p.link());
    registry.verify(getRequestedFor(urlEqualTo("/v2/library/busybox/tags/list")));
  }

  @Test
  void tagsWithOnlyLast() throws IOException {
    registry.stubFor(get(urlEqualTo("/v2/library/busybox/tags/list?last=b")).willReturn(aResponse()
        .withStatus(200).withBody("{\"name\":\"library/busybox\",\"tags\":[]}")));

    assertTrue(upstream().tags(REPO, null, "b").isPresent());
  }

  @Test
  void nameAndSettings() throws IOException {
    JibUpstream u = upstream();
    assertEquals("test", u.name());
    assertEquals(registryHost(), u.settings().registryHost());
    assertTrue(u.settings().plainHttp());
    assertFalse(UpstreamSettings.of("hub", "https://registry-1.docker.io").plainHttp());
  }
}
