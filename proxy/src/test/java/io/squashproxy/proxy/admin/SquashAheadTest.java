package io.squashproxy.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.RegistryEvents;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.ServedManifest;
import io.squashproxy.proxy.service.SquashAhead;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ManualExecutor;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #13 item 3 on the admin listener's handler: a registry's push events and warm requests queue
 * squashes ahead of demand, so the first pull after a push is already squashed and makes no upstream blob
 * request; wrong secrets, bodies and media types are refused with a clear 4xx.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SquashAheadTest {
  static final String SECRET = "0123456789abcdef-secret";
  static final String EVENTS = RegistryEvents.MEDIA_TYPE;

  @TempDir Path dir;
  InMemoryRegistry up;
  ManualExecutor squashPool;
  ProxyHarness h;
  SquashAhead ahead;
  EmbeddedChannel ch;
  Digest pushed;

  @BeforeEach
  void start() throws Exception {
    up = new InMemoryRegistry("up");
    pushed = up.push("demo/t", "v1", TestImage.docker()
        .layer(LayerBuilder.layer().file("a", "1")).layer(LayerBuilder.layer().file("b", "2")).build());
    squashPool = new ManualExecutor();
    h = new ProxyHarness(up, dir.resolve("cache"),
        new Rules(List.of(SquashRule.all("**").withWait(Duration.ZERO))), squashPool);
    ahead = new SquashAhead(h.service, h.upstreams, 10, h.stats.registry());
    ch = new EmbeddedChannel(new AdminHandler(ProxyMeters.create(), () -> true, Runnable::run, () -> "",
        () -> ahead, SECRET));
  }

  @AfterEach
  void stop() {
    ch.finishAndReleaseAll();
    h.close();
  }

  private FullHttpResponse post(String path, String auth, String type, String body) {
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path,
        Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    if (auth != null) {
      req.headers().set("Authorization", auth);
    }
    if (type != null) {
      req.headers().set("Content-Type", type);
    }
    ch.writeInbound(req);
    ch.runPendingTasks();
    return ch.readOutbound();
  }

  private static int status(FullHttpResponse r) {
    int code = r.status().code();
    r.release();
    return code;
  }

  private static String text(FullHttpResponse r) {
    try {
      return r.content().toString(StandardCharsets.UTF_8);
    } finally {
      r.release();
    }
  }

  private String pushEvent(String tag) {
    return "{\"id\":\"e1\",\"timestamp\":\"2026-12-01T00:00:00Z\",\"action\":\"push\",\"target\":{"
        + "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" + pushed
        + "\",\"repository\":\"demo/t\",\"tag\":\"" + tag + "\",\"url\":\"http://r/v2/demo/t/manifests/" + pushed
        + "\"},\"request\":{\"method\":\"PUT\"}}";
  }

  private static String blobEvent() {
    return "{\"action\":\"push\",\"target\":{\"mediaType\":\"application/octet-stream\",\"digest\":\""
        + Digest.sha256(new byte[] {1}) + "\",\"repository\":\"demo/t\"}}";
  }

  @Test
  void aPushEventMakesTheFirstPullSquashedFromTheCache() throws Exception {
    FullHttpResponse r = post("/notifications", "Bearer " + SECRET, EVENTS,
        "{\"events\":[" + blobEvent() + "," + pushEvent("v1") + "]}");
    assertEquals(202, r.status().code());
    assertEquals("queued 1\n", text(r));
    squashPool.runNext();
    int blobGets = up.totalBlobGets();
    ServedManifest first = h.service.manifest(h.route("demo/t"), "v1").join();
    assertNotEquals(pushed, first.digest(), "the first pull after the push is squashed");
    assertFalse(first.squashPending());
    h.service.blob(h.route("demo/t"), ImageManifest.parse(first.bytes()).layers().get(0).digest()).join();
    assertEquals(blobGets, up.totalBlobGets(), "served from the cache: no upstream blob request");
  }

  @Test
  void aFloodOfEventsForOneImageQueuesItOnce() {
    StringBuilder events = new StringBuilder("{\"events\":[");
    for (int i = 0; i < 100; i++) {
      events.append(i == 0 ? "" : ",").append(pushEvent("v1"));
    }
    FullHttpResponse r = post("/notifications", "Bearer " + SECRET, "application/json", events + "]}");
    assertEquals(202, r.status().code());
    assertEquals("queued 1\nalready_queued 99\n", text(r));
    assertEquals(1, ahead.waiting());
  }

  @Test
  void aWrongOrMissingSecretGets401() {
    String body = "{\"events\":[" + pushEvent("v1") + "]}";
    assertEquals(401, status(post("/notifications", "Bearer wrong", EVENTS, body)));
    assertEquals(401, status(post("/notifications", null, EVENTS, body)));
    assertEquals(401, status(post("/warm", "Bearer wrong", "application/json", "{\"images\":[\"demo/t:v1\"]}")));
    assertEquals(0, ahead.waiting());
  }

  @Test
  void malformedBodiesGet400NamingTheProblem() {
    FullHttpResponse notJson = post("/notifications", "Bearer " + SECRET, EVENTS, "{nope");
    assertEquals(400, notJson.status().code());
    assertTrue(text(notJson).contains("not JSON"));
    FullHttpResponse noEvents = post("/notifications", "Bearer " + SECRET, EVENTS, "{\"x\":1}");
    assertEquals(400, noEvents.status().code());
    assertTrue(text(noEvents).contains("events"));
    FullHttpResponse badRepo = post("/notifications", "Bearer " + SECRET, EVENTS,
        "{\"events\":[{\"action\":\"push\",\"target\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            + "\"repository\":\"../x\",\"tag\":\"v1\"}}]}");
    assertEquals(400, badRepo.status().code());
    assertTrue(text(badRepo).contains("events[0].target.repository"));
    assertEquals(415, status(post("/notifications", "Bearer " + SECRET, "text/plain", "{\"events\":[]}")));
    assertEquals(400, status(post("/warm", "Bearer " + SECRET, "application/json", "{\"images\":[1]}")));
    assertEquals(0, ahead.waiting());
  }

  @Test
  void aWarmRequestSquashesTheImagesItNames() throws Exception {
    FullHttpResponse r = post("/warm", "Bearer " + SECRET, "application/json", "{\"images\":[\"demo/t:v1\"]}");
    assertEquals(202, r.status().code());
    assertEquals("queued 1\n", text(r));
    squashPool.runNext();
    assertFalse(h.service.manifest(h.route("demo/t"), "v1").join().squashPending());
  }

  @Test
  void withoutASecretConfiguredTheEndpointsAreOff() {
    EmbeddedChannel off = new EmbeddedChannel(new AdminHandler(ProxyMeters.create(), () -> true, Runnable::run,
        () -> ""));
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/notifications",
        Unpooled.copiedBuffer("{}", StandardCharsets.UTF_8));
    off.writeInbound(req);
    FullHttpResponse r = off.readOutbound();
    assertEquals(404, status(r));
    off.finishAndReleaseAll();
  }
}
