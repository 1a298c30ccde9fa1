package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.ReferrersPage;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * {@link JibUpstream#referrers}: the referrers API of a registry that has one (Distribution 2.8 has not, see
 * tests/ReferrersTest), asked with the same authentication as every other request, the artifactType filter
 * passed on; a 404 is a registry without the API.
 */
class JibUpstreamReferrersTest extends WireMockRegistrySupport {
  static final Digest SUBJECT = sha256(bytes("subject"));
  static final String PATH = "/v2/" + REPO + "/referrers/" + SUBJECT;
  static final byte[] INDEX = bytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      + "\"manifests\":[]}");

  @Test
  void anUpstreamWithTheApiIsAskedWithTheFilterAndItsAnswerAndLinkComeBack() throws Exception {
    anonymousRegistry();
    registry.stubFor(get(urlPathEqualTo(PATH)).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", "application/vnd.oci.image.index.v1+json")
        .withHeader("OCI-Filters-Applied", "artifactType")
        .withHeader("Link", "</v2/" + REPO + "/referrers/" + SUBJECT + "?n=1&last=x>; rel=\"next\"")
        .withBody(INDEX)));
    Optional<ReferrersPage> page = upstream().referrers(REPO, SUBJECT, "application/spdx+json");
    assertTrue(page.isPresent());
    assertArrayEquals(INDEX, page.get().body());
    assertTrue(page.get().link().contains("last=x"), page.get().link());
    registry.verify(getRequestedFor(urlEqualTo(PATH + "?artifactType=application%2Fspdx%2Bjson"))
        .withHeader("Accept", com.github.tomakehurst.wiremock.client.WireMock.containing(
            "application/vnd.oci.image.index.v1+json")));
  }

  @Test
  void aNotFoundIsAnUpstreamWithoutTheApi() throws Exception {
    anonymousRegistry(); // every unknown path answers 404, as Distribution 2.8 does for /referrers/
    assertEquals(Optional.empty(), upstream().referrers(REPO, SUBJECT, null));
  }

  @Test
  void aChallengeIsAnsweredAsForEveryOtherRequest() throws Exception {
    challengeEverything("Basic realm=\"test\"");
    registry.stubFor(get(urlPathEqualTo(PATH)).withHeader("Authorization", equalTo("Basic " + basic(USER,
        PASSWORD))).atPriority(1).willReturn(aResponse().withStatus(200).withBody(INDEX)));
    assertArrayEquals(INDEX, upstream(USER, PASSWORD).referrers(REPO, SUBJECT, null).orElseThrow().body());
  }
}
