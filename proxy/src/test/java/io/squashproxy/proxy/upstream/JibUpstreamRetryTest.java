package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.absent;
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
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.http.Fault;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.upstream.Upstream.BlobStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Retries against a misbehaving registry: statuses and resets from WireMock, cut-off and stalled bodies from
 * a raw socket. The retrier's sleeper records instead of sleeping, so no test waits for a backoff.
 */
class JibUpstreamRetryTest extends WireMockRegistrySupport {
  static final Instant NOW = Instant.parse("2026-10-21T07:28:00Z");
  static final RetryPolicy POLICY = new RetryPolicy(4, Duration.ofMillis(100), Duration.ofSeconds(1), 0,
      Duration.ofSeconds(30));
  static final byte[] BLOB = new byte[256 * 1024];
  static final Digest BLOB_DIGEST;
  static final byte[] MANIFEST = bytes("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\"}");

  static {
    new Random(7).nextBytes(BLOB);
    BLOB_DIGEST = Digest.sha256(BLOB);
  }

  final List<Duration> slept = new ArrayList<>();
  final List<String> reasons = new ArrayList<>();

  @BeforeEach
  void forgetRetries() {
    // One instance serves the whole class (the servers outlive the tests).
    slept.clear();
    reasons.clear();
  }

  JibUpstream upstream(String url, Duration idle) {
    UpstreamSettings s = new UpstreamSettings("test", URI.create(url), null, false, null, null, null,
        Duration.ofSeconds(2), Duration.ofSeconds(5), idle, POLICY);
    return track(new JibUpstream(s, new Retrier(POLICY, slept::add, Clock.fixed(NOW, ZoneOffset.UTC), () -> 0,
        reasons::add)));
  }

  JibUpstream retrying() {
    return upstream(base(), Duration.ofSeconds(5));
  }

  /** {@code path} answers {@code failures} in turn, then {@code success}. */
  void failThenSucceed(String path, ResponseDefinitionBuilder success, ResponseDefinitionBuilder... failures) {
    String state = STARTED;
    for (int i = 0; i < failures.length; i++) {
      String next = "after-" + i;
      registry.stubFor(get(urlEqualTo(path)).inScenario(path).whenScenarioStateIs(state)
          .willReturn(failures[i]).willSetStateTo(next));
      state = next;
    }
    registry.stubFor(get(urlEqualTo(path)).inScenario(path).whenScenarioStateIs(state).willReturn(success));
  }

  ResponseDefinitionBuilder manifestOk() {
    return aResponse().withStatus(200).withHeader("Content-Type", OCI_MANIFEST).withBody(MANIFEST);
  }

  @Test
  void serverErrorsAreRetriedWithBackoff() throws IOException {
    anonymousRegistry();
    String path = manifestPath(REPO, "latest");
    failThenSucceed(path, manifestOk(), aResponse().withStatus(503), aResponse().withStatus(502),
        aResponse().withStatus(500));

    Upstream.RawManifest m = retrying().manifest(REPO, "latest").orElseThrow();

    assertArrayEquals(MANIFEST, m.bytes());
    registry.verify(exactly(4), getRequestedFor(urlEqualTo(path)));
    assertEquals(List.of(Duration.ofMillis(100), Duration.ofMillis(200), Duration.ofMillis(400)), slept);
    assertEquals(List.of("http_503", "http_502", "http_500"), reasons);
  }

  @Test
  void retriesAreBounded() {
    anonymousRegistry();
    String path = manifestPath(REPO, "latest");
    registry.stubFor(get(urlEqualTo(path)).willReturn(aResponse().withStatus(504).withBody("gateway timeout")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> retrying().manifest(REPO, "latest"));

    assertEquals(504, e.status());
    assertTrue(e.getMessage().contains("gateway timeout"), e.getMessage());
    registry.verify(exactly(POLICY.maxAttempts()), getRequestedFor(urlEqualTo(path)));
    assertEquals(POLICY.maxAttempts() - 1, slept.size());
  }

  @Test
  void clientErrorsAreFinal() throws IOException {
    anonymousRegistry();
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "bad"))).willReturn(aResponse().withStatus(400)));
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "denied"))).willReturn(aResponse().withStatus(403)));
    JibUpstream u = retrying();

    assertTrue(u.manifest(REPO, "missing").isEmpty());
    assertEquals(400, assertThrows(UpstreamException.class, () -> u.manifest(REPO, "bad")).status());
    assertEquals(403, assertThrows(UpstreamException.class, () -> u.manifest(REPO, "denied")).status());

    for (String ref : List.of("missing", "bad", "denied")) {
      registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, ref))));
    }
    assertTrue(slept.isEmpty(), slept.toString());
  }

  @Test
  void aRateLimitIsWaitedOutForAsLongAsUpstreamAsks() throws IOException {
    anonymousRegistry();
    String path = manifestPath(REPO, "latest");
    registry.stubFor(head(urlEqualTo(path)).inScenario("rl").whenScenarioStateIs(STARTED)
        .willReturn(aResponse().withStatus(429).withHeader("Retry-After", "Wed, 21 Oct 2026 07:28:07 GMT"))
        .willSetStateTo("seconds"));
    registry.stubFor(head(urlEqualTo(path)).inScenario("rl").whenScenarioStateIs("seconds")
        .willReturn(aResponse().withStatus(429).withHeader("Retry-After", "3")).willSetStateTo("ok"));
    Digest d = Digest.sha256(MANIFEST);
    registry.stubFor(head(urlEqualTo(path)).inScenario("rl").whenScenarioStateIs("ok")
        .willReturn(aResponse().withStatus(200).withHeader("Docker-Content-Digest", d.toString())
            .withHeader("Content-Type", OCI_MANIFEST)));

    Upstream.ManifestHead h = retrying().headManifest(REPO, "latest").orElseThrow();

    assertEquals(d, h.digest());
    assertEquals(List.of(Duration.ofSeconds(7), Duration.ofSeconds(3)), slept);
    assertEquals(List.of("http_429", "http_429"), reasons);
    registry.verify(exactly(3), headRequestedFor(urlEqualTo(path)));
  }

  @Test
  void aRateLimitLongerThanTheCapGoesBackAtOnceWithItsRetryAfter() {
    anonymousRegistry();
    String path = manifestPath(REPO, "latest");
    registry.stubFor(get(urlEqualTo(path)).willReturn(aResponse().withStatus(429).withHeader("Retry-After", "3600")));

    UpstreamException e = assertThrows(UpstreamException.class, () -> retrying().manifest(REPO, "latest"));

    assertEquals(429, e.status());
    assertEquals("3600", e.retryAfter());
    assertTrue(slept.isEmpty());
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(path)));
  }

  @Test
  void resetConnectionsAreRetried() throws IOException {
    anonymousRegistry();
    String path = manifestPath(REPO, "latest");
    failThenSucceed(path, manifestOk(), aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER),
        aResponse().withFault(Fault.EMPTY_RESPONSE));

    assertArrayEquals(MANIFEST, retrying().manifest(REPO, "latest").orElseThrow().bytes());
    assertEquals(2, reasons.size(), reasons.toString());
    assertTrue(reasons.stream().allMatch(r -> r.equals("connection")), reasons.toString());
  }

  @Test
  void aRefusedConnectionIsRetriedThenReportedAsUnreachable() throws IOException {
    JibUpstream u = upstream("http://127.0.0.1:" + closedPort(), Duration.ofSeconds(5));

    UpstreamException e = assertThrows(UpstreamException.class, () -> u.manifest(REPO, "latest"));

    assertEquals(0, e.status(), e.getMessage());
    assertTrue(e.unreachable());
    assertEquals(POLICY.maxAttempts() - 1, reasons.size());
  }

  @Test
  void authenticationAgainstADyingRegistryIsRetriedByOurPolicyAloneNotByJibs() throws IOException {
    anonymousRegistry();
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, "latest"))).willReturn(manifestOk()));
    JibUpstream u = retrying();
    u.manifest(REPO, "latest"); // authenticated once: Jib now remembers the registry speaks plain http
    registry.resetRequests();
    registry.stubFor(get(urlEqualTo("/v2/")).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));

    UpstreamException e = assertThrows(UpstreamException.class, () -> u.manifest("other/repo", "latest"));

    assertEquals(0, e.status(), e.getMessage());
    // One ping per attempt of ours; Jib's own client would back off and ping again for up to a minute each.
    registry.verify(exactly(POLICY.maxAttempts()), getRequestedFor(urlEqualTo("/v2/")));
    assertEquals(POLICY.maxAttempts() - 1, reasons.size());
  }

  @Test
  void aManifestThatDoesNotMatchItsDigestIsNotRetried() {
    anonymousRegistry();
    Digest wanted = Digest.sha256(bytes("the real manifest"));
    registry.stubFor(get(urlEqualTo(manifestPath(REPO, wanted.toString()))).willReturn(manifestOk()));

    UpstreamException e = assertThrows(UpstreamContentException.class,
        () -> retrying().manifest(REPO, wanted.toString()));

    assertEquals(502, e.status());
    assertTrue(e.getMessage().contains("has digest " + Digest.sha256(MANIFEST)), e.getMessage());
    registry.verify(exactly(1), getRequestedFor(urlEqualTo(manifestPath(REPO, wanted.toString()))));
  }

  @Test
  void aRedirectedBlobIsRetriedAtTheStorageHostWithoutTheRegistrysAuthorization() throws IOException {
    challengeEverything("Bearer realm=\"" + base() + "/token\",service=\"registry.test\"");
    registry.stubFor(get(urlPathEqualTo("/token")).willReturn(okJson("{\"token\":\"T1\"}")));
    WireMockServer storage = newServer();
    registry.stubFor(get(urlEqualTo(blobPath(REPO, BLOB_DIGEST))).withHeader("Authorization", equalTo("Bearer T1"))
        .willReturn(aResponse().withStatus(307).withHeader("Location", base(storage) + "/cdn/blob")));
    storage.stubFor(get(urlEqualTo("/cdn/blob")).inScenario("cdn").whenScenarioStateIs(STARTED)
        .willReturn(aResponse().withStatus(503)).willSetStateTo("up"));
    storage.stubFor(get(urlEqualTo("/cdn/blob")).inScenario("cdn").whenScenarioStateIs("up")
        .willReturn(aResponse().withStatus(200).withBody(BLOB)));

    byte[] got;
    try (BlobStream b = retrying().blob(REPO, BLOB_DIGEST).orElseThrow(); InputStream in = b.body()) {
      got = in.readAllBytes();
    }

    assertArrayEquals(BLOB, got);
    assertEquals(List.of("http_503"), reasons);
    storage.verify(exactly(2), getRequestedFor(urlEqualTo("/cdn/blob")).withHeader("Authorization", absent()));
  }

  // Bodies that break off, on a raw socket.

  /** Sends the blob from {@code Range}'s offset (206) or whole (200), cut after {@code cut} bytes while > 0. */
  static ScriptedHttpServer.Handler cutting(AtomicInteger cuts, int cut, boolean honourRange) {
    return (r, out) -> {
      int from = 0;
      String range = r.header("Range");
      if (honourRange && range != null) {
        from = Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
      }
      int length = BLOB.length - from;
      if (from > 0) {
        ScriptedHttpServer.head(out, 206, "application/octet-stream", length,
            Map.of("Content-Range", "bytes " + from + "-" + (BLOB.length - 1) + "/" + BLOB.length));
      } else {
        ScriptedHttpServer.head(out, 200, "application/octet-stream", length, Map.of());
      }
      int send = cuts.getAndDecrement() > 0 ? Math.min(cut, length) : length;
      out.write(BLOB, from, send);
      out.flush();
    };
  }

  byte[] readBlob(JibUpstream u) throws IOException {
    try (BlobStream b = u.blob(REPO, BLOB_DIGEST).orElseThrow(); InputStream in = b.body()) {
      return in.readAllBytes();
    }
  }

  @Test
  void aBlobCutOffMidwayIsResumedWithARange() throws Exception {
    try (ScriptedHttpServer s = new ScriptedHttpServer(cutting(new AtomicInteger(2), 100_000, true))) {
      assertArrayEquals(BLOB, readBlob(upstream(s.url(), Duration.ofSeconds(5))));

      List<ScriptedHttpServer.Request> calls = s.calls(blobPath(REPO, BLOB_DIGEST));
      assertEquals(3, calls.size());
      assertNull(calls.get(0).header("Range"));
      assertEquals("bytes=100000-", calls.get(1).header("Range"));
      assertEquals("bytes=200000-", calls.get(2).header("Range"));
      assertEquals(List.of("body", "body"), reasons);
    }
  }

  @Test
  void aBlobCutOffByAnUpstreamWithoutRangesIsFetchedAgainFromTheStart() throws Exception {
    try (ScriptedHttpServer s = new ScriptedHttpServer(cutting(new AtomicInteger(1), 50_000, false))) {
      assertArrayEquals(BLOB, readBlob(upstream(s.url(), Duration.ofSeconds(5))));
      assertEquals(2, s.calls(blobPath(REPO, BLOB_DIGEST)).size());
    }
  }

  @Test
  void aBlobThatKeepsBreakingOffFailsAsABadGateway() throws Exception {
    try (ScriptedHttpServer s = new ScriptedHttpServer(cutting(new AtomicInteger(100), 1000, true))) {
      UpstreamException e = assertThrows(UpstreamException.class,
          () -> readBlob(upstream(s.url(), Duration.ofSeconds(5))));

      assertEquals(502, e.status());
      assertTrue(e.getMessage().contains("broke off after 4000 bytes"), e.getMessage());
      assertEquals(POLICY.maxAttempts(), s.calls(blobPath(REPO, BLOB_DIGEST)).size());
    }
  }

  @Test
  void aStalledBodyTimesOutAndIsResumed() throws Exception {
    AtomicInteger stalls = new AtomicInteger(1);
    ScriptedHttpServer.Handler stallOnce = (r, out) -> {
      if (stalls.getAndDecrement() > 0) {
        ScriptedHttpServer.head(out, 200, "application/octet-stream", BLOB.length, Map.of());
        out.write(BLOB, 0, 1000);
        out.flush();
        Thread.sleep(30_000); // until the server closes
        return;
      }
      cutting(new AtomicInteger(0), 0, true).handle(r, out);
    };
    try (ScriptedHttpServer s = new ScriptedHttpServer(stallOnce)) {
      assertArrayEquals(BLOB, readBlob(upstream(s.url(), Duration.ofMillis(300))));

      assertEquals(List.of("timeout"), reasons);
      assertEquals("bytes=1000-", s.calls(blobPath(REPO, BLOB_DIGEST)).get(1).header("Range"));
    }
  }

  @Test
  void aStalledManifestTimesOutAndIsAskedForAgain() throws Exception {
    AtomicInteger stalls = new AtomicInteger(1);
    ScriptedHttpServer.Handler stallOnce = (r, out) -> {
      ScriptedHttpServer.head(out, 200, OCI_MANIFEST, MANIFEST.length, Map.of());
      if (stalls.getAndDecrement() > 0) {
        out.write(MANIFEST, 0, 5);
        out.flush();
        Thread.sleep(30_000);
        return;
      }
      out.write(MANIFEST);
    };
    try (ScriptedHttpServer s = new ScriptedHttpServer(stallOnce)) {
      byte[] got = upstream(s.url(), Duration.ofMillis(300)).manifest(REPO, "latest").orElseThrow().bytes();

      assertEquals(Arrays.toString(MANIFEST), Arrays.toString(got));
      assertEquals(List.of("timeout"), reasons);
    }
  }
}
