package io.squashproxy.proxy.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.github.benmanes.caffeine.cache.Ticker;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.squashproxy.config.ProxyConfig.AccessRule;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The handler alone: what it answers itself, what it passes on, and that no request buffer leaks. */
class AuthHandlerTest {
  @TempDir
  Path dir;

  private AccessControl access;
  private Upstreams upstreams;

  @BeforeEach
  void setUp() throws Exception {
    Path htpasswd = dir.resolve("htpasswd");
    Files.writeString(htpasswd, "alice:" + new String(BCrypt.with(BCrypt.Version.VERSION_2Y)
        .hash(4, "pw".toCharArray())) + "\n");
    InMemoryRegistry up = new InMemoryRegistry("up");
    upstreams = new Upstreams(List.of(UpstreamSettings.of("up", "http://127.0.0.1:1")), Rules.squashEverything(),
        s -> up);
    var pool = Executors.newSingleThreadExecutor();
    access = new AccessControl("squash-proxy", false, null,
        new BasicCredentials(new Htpasswd(htpasswd), Runnable::run, Ticker.systemTicker()),
        new TokenService(null, "squash-proxy", Duration.ofMinutes(5), Clock.systemUTC()),
        AccessRules.from(List.of(new AccessRule("team/**", List.of("alice"), false))),
        new ContentLinks(d -> Optional.empty(), Runnable::run, 1000), upstreams, pool);
  }

  @AfterEach
  void tearDown() throws Exception {
    access.close();
    upstreams.close();
  }

  private static FullHttpRequest get(String uri, String authorization) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri);
    if (authorization != null) {
      r.headers().set("Authorization", authorization);
    }
    return r;
  }

  private static String alice() {
    return "Basic " + Base64.getEncoder().encodeToString("alice:pw".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void refusalsAreAnsweredHereAndTheRequestIsReleased() {
    EmbeddedChannel ch = new EmbeddedChannel(access.newHandler(false));
    FullHttpRequest anonymous = get("/v2/team/app/manifests/1", null);
    ch.writeInbound(anonymous);
    ch.runPendingTasks();
    assertNull(ch.readInbound(), "not passed on");
    assertEquals(0, anonymous.refCnt());
    FullHttpResponse resp = ch.readOutbound();
    assertEquals(401, resp.status().code());
    assertEquals("Basic realm=\"squash-proxy\"", resp.headers().get("WWW-Authenticate"));
    assertTrue(resp.content().toString(StandardCharsets.UTF_8).contains("\"UNAUTHORIZED\""));
    resp.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void allowedRequestsPassAndTheirManifestsLinkTheirDigests() {
    EmbeddedChannel ch = new EmbeddedChannel(access.newHandler(false));
    FullHttpRequest req = get("/v2/team/app/manifests/1", alice());
    ch.writeInbound(req);
    ch.runPendingTasks();
    FullHttpRequest passed = ch.readInbound();
    assertEquals(req, passed);
    passed.release();

    Digest manifest = Digest.sha256("m".getBytes(StandardCharsets.UTF_8));
    Digest layer = Digest.sha256("l".getBytes(StandardCharsets.UTF_8));
    String json = "{\"config\":{\"digest\":\"" + layer + "\"},\"layers\":[{\"digest\":\"" + layer + "\"}]}";
    FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
        Unpooled.copiedBuffer(json, StandardCharsets.UTF_8));
    resp.headers().set("Docker-Content-Digest", manifest.toString());
    ch.writeOutbound(resp);
    ((FullHttpResponse) ch.readOutbound()).release();
    Route route = upstreams.resolve("team/app", null);
    assertTrue(access.links().isLinked(route, manifest));
    assertTrue(access.links().isLinked(route, layer));
    assertTrue(!access.links().isLinked(upstreams.resolve("team/other", null), layer), "per repository");

    FullHttpRequest wrong = get("/v2/team/app/blobs/" + layer, "Basic "
        + Base64.getEncoder().encodeToString("alice:wrong".getBytes(StandardCharsets.UTF_8)));
    ch.writeInbound(wrong);
    ch.runPendingTasks();
    assertNull(ch.readInbound());
    FullHttpResponse refused = ch.readOutbound();
    assertEquals(401, refused.status().code());
    refused.release();
    assertEquals(0, wrong.refCnt());
    ch.finishAndReleaseAll();
  }
}
