package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.channel.FileRegion;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The HTTP face of the proxy, driven through an {@link EmbeddedChannel}. */
class RegistryHandlerTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  InMemoryRegistry upstream;
  ProxyHarness harness;
  EmbeddedChannel channel;
  TestImage image;
  Digest original;

  @BeforeEach
  void setUp() throws Exception {
    upstream = new InMemoryRegistry("up");
    image = TestImage.oci().layer(LayerBuilder.layer().file("a", "0123456789"))
        .layer(LayerBuilder.layer().file("b", "abc")).build();
    original = upstream.push("library/app", "1.0", image);
    harness = new ProxyHarness(upstream, dir.resolve("cache"));
    channel = new EmbeddedChannel(new RegistryHandler(harness.service, harness.upstreams, harness.io, true,
        new RequestMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry())));
  }

  @AfterEach
  void tearDown() {
    channel.finishAndReleaseAll();
    harness.close();
  }

  /** A response as the client would read it. */
  record Reply(int status, HttpHeaders headers, byte[] body) {
    JsonNode json() throws Exception {
      return JSON.readTree(body);
    }
  }

  Reply send(HttpMethod method, String uri, Consumer<HttpHeaders> headers) throws Exception {
    DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri);
    headers.accept(req.headers());
    channel.writeInbound(req);
    HttpResponse head = null;
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      channel.runPendingTasks();
      Object o = channel.readOutbound();
      if (o == null) {
        Thread.onSpinWait();
        continue;
      }
      try {
        if (o instanceof HttpResponse r) {
          head = r;
        }
        if (o instanceof FileRegion region) {
          region.transferTo(Channels.newChannel(body), 0);
        }
        if (o instanceof HttpContent c) {
          ByteBuf buf = c.content();
          byte[] bytes = new byte[buf.readableBytes()];
          buf.getBytes(buf.readerIndex(), bytes);
          body.write(bytes);
        }
        if (o instanceof FullHttpResponse || o instanceof LastHttpContent) {
          assertNotNull(head);
          return new Reply(head.status().code(), head.headers(), body.toByteArray());
        }
      } finally {
        io.netty.util.ReferenceCountUtil.release(o);
      }
    }
    throw new AssertionError("no response to " + method + " " + uri);
  }

  Reply get(String uri) throws Exception {
    return send(HttpMethod.GET, uri, h -> { });
  }

  @Test
  void baseEndpointAnnouncesTheApiVersion() throws Exception {
    Reply r = get("/v2/");
    assertEquals(200, r.status());
    assertEquals("registry/2.0", r.headers().get("Docker-Distribution-API-Version"));
  }

  @ParameterizedTest(name = "{0} {1} -> {2} {3}")
  @CsvSource({
      "GET, /v2/UPPER/manifests/latest, 400, NAME_INVALID",
      "GET, /v2/a/../b/manifests/latest, 400, NAME_INVALID",
      "GET, /v2/a%2Fb/manifests/latest, 400, NAME_INVALID",
      "GET, /v2/-app/manifests/latest, 400, NAME_INVALID",
      "GET, /v2/app/manifests/bad!tag, 404, MANIFEST_UNKNOWN",
      "GET, /v2/app/manifests/sha256:1234, 404, MANIFEST_UNKNOWN",
      "GET, /v2/app/blobs/sha256:xyz, 400, DIGEST_INVALID",
      "GET, /v2/app/blobs/md5:00, 400, DIGEST_INVALID",
      "GET, /v2/app/manifests/missing, 404, MANIFEST_UNKNOWN",
      "GET, /v2/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000, 404, BLOB_UNKNOWN",
      "PUT, /v2/app/manifests/1.0, 405, UNSUPPORTED",
      "DELETE, /v2/app/manifests/1.0, 405, UNSUPPORTED",
      "POST, /v2/app/blobs/uploads/, 405, UNSUPPORTED",
      "PATCH, /v2/app/blobs/uploads/abc, 405, UNSUPPORTED",
      "GET, /v2/ghcr.io/owner/img/manifests/1, 404, NAME_UNKNOWN",
  })
  void errorsComeInTheSpecsEnvelope(String method, String uri, int status, String code) throws Exception {
    Reply r = send(HttpMethod.valueOf(method), uri, h -> { });
    assertEquals(status, r.status());
    assertTrue(r.headers().get("Content-Type").startsWith("application/json"));
    JsonNode err = r.json().path("errors").get(0);
    assertEquals(code, err.path("code").asText());
    assertTrue(err.path("message").asText().length() > 0);
    if (status == 405) {
      assertEquals("GET, HEAD", r.headers().get("Allow"));
    }
  }

  @Test
  void manifestByTagHasTheRegistryHeadersAndHeadHasNoBody() throws Exception {
    Reply r = send(HttpMethod.GET, "/v2/app/manifests/1.0",
        h -> h.set("Accept", MediaTypes.OCI_MANIFEST + ", " + MediaTypes.OCI_INDEX));
    assertEquals(200, r.status());
    assertEquals(MediaTypes.OCI_MANIFEST, r.headers().get("Content-Type"));
    Digest d = Digest.parse(r.headers().get("Docker-Content-Digest"));
    assertEquals(Digest.sha256(r.body()), d);
    assertEquals("\"" + d + "\"", r.headers().get("ETag"));
    assertEquals(r.body().length, r.headers().getInt("Content-Length"));

    Reply head = send(HttpMethod.HEAD, "/v2/app/manifests/1.0", h -> { });
    assertEquals(200, head.status());
    assertEquals(0, head.body().length);
    assertEquals(d.toString(), head.headers().get("Docker-Content-Digest"));
    assertEquals(r.body().length, head.headers().getInt("Content-Length"));

    Reply notModified = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("If-None-Match", "\"" + d + "\""));
    assertEquals(304, notModified.status());
  }

  @Test
  void clientsThatDoNotAcceptTheTypeGetManifestUnknown() throws Exception {
    Reply r = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("Accept", MediaTypes.DOCKER_MANIFEST));
    assertEquals(404, r.status());
    assertEquals("MANIFEST_UNKNOWN", r.json().path("errors").get(0).path("code").asText());
  }

  @Test
  void originalDigestIsPassedThroughByteExact() throws Exception {
    Reply r = get("/v2/app/manifests/" + original);
    assertEquals(200, r.status());
    assertArrayEquals(image.manifest(), r.body());
    assertEquals(original.toString(), r.headers().get("Docker-Content-Digest"));
  }

  @Test
  void blobsHonourRangeRequests() throws Exception {
    Digest layer = image.layerDigests().get(0);
    byte[] blob = image.layerBlobs().get(0);
    Reply full = get("/v2/app/blobs/" + layer);
    assertEquals(200, full.status());
    assertArrayEquals(blob, full.body());
    assertEquals("bytes", full.headers().get("Accept-Ranges"));
    assertEquals(layer.toString(), full.headers().get("Docker-Content-Digest"));

    Reply part = send(HttpMethod.GET, "/v2/app/blobs/" + layer, h -> h.set("Range", "bytes=2-5"));
    assertEquals(206, part.status());
    assertEquals("bytes 2-5/" + blob.length, part.headers().get("Content-Range"));
    assertArrayEquals(java.util.Arrays.copyOfRange(blob, 2, 6), part.body());

    Reply suffix = send(HttpMethod.GET, "/v2/app/blobs/" + layer, h -> h.set("Range", "bytes=-3"));
    assertEquals(206, suffix.status());
    assertArrayEquals(java.util.Arrays.copyOfRange(blob, blob.length - 3, blob.length), suffix.body());

    Reply beyond = send(HttpMethod.GET, "/v2/app/blobs/" + layer, h -> h.set("Range", "bytes=999999-"));
    assertEquals(416, beyond.status());
    assertEquals("bytes */" + blob.length, beyond.headers().get("Content-Range"));

    Reply multi = send(HttpMethod.GET, "/v2/app/blobs/" + layer, h -> h.set("Range", "bytes=0-1,4-5"));
    assertEquals(200, multi.status(), "multiple ranges: the whole blob");
    assertArrayEquals(blob, multi.body());

    Reply head = send(HttpMethod.HEAD, "/v2/app/blobs/" + layer, h -> { });
    assertEquals(200, head.status());
    assertEquals(blob.length, head.headers().getInt("Content-Length"));
    assertEquals(0, head.body().length);

    // squash_proxy_blob_range_*: the two satisfiable ranges (4 and 3 bytes), both sent with sendfile here.
    var meters = harness.service.stats().registry();
    assertEquals(2.0, meters.get("squash_proxy_blob_range_requests").tag("send", "zero-copy").functionCounter()
        .count());
    assertEquals(0.0, meters.get("squash_proxy_blob_range_requests").tag("send", "copied").functionCounter()
        .count());
    assertEquals(7.0, meters.get("squash_proxy_blob_range").functionCounter().count());
  }

  @Test
  void tagListsNameTheRepositoryAsTheClientDid() throws Exception {
    Reply r = get("/v2/app/tags/list");
    assertEquals(200, r.status());
    assertEquals("app", r.json().path("name").asText());
    assertEquals("1.0", r.json().path("tags").get(0).asText());
  }

  /** The response written during {@code writeInbound} itself, with no task run and no pool thread waited for. */
  FullHttpResponse answeredAtOnce(String uri) {
    DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri);
    req.headers().set("Accept", MediaTypes.OCI_MANIFEST);
    channel.writeInbound(req);
    Object o = channel.readOutbound();
    assertTrue(o instanceof FullHttpResponse, "answered on the event loop at once, got " + o);
    assertTrue(channel.config().isAutoRead(), "reading is never paused for a warm manifest");
    return (FullHttpResponse) o;
  }

  @Test
  void warmManifestsAreAnsweredOnTheEventLoopFromTheBytesInMemory() throws Exception {
    Reply cold = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("Accept", MediaTypes.OCI_MANIFEST));
    assertEquals(200, cold.status());
    Digest squashed = Digest.parse(cold.headers().get("Docker-Content-Digest"));
    int heads = upstream.manifestHeads.get();

    for (String uri : new String[] {"/v2/app/manifests/1.0", "/v2/app/manifests/" + squashed}) {
      FullHttpResponse r = answeredAtOnce(uri);
      try {
        assertEquals(200, r.status().code());
        assertEquals(squashed.toString(), r.headers().get("Docker-Content-Digest"));
        assertEquals("\"" + squashed + "\"", r.headers().get("ETag"));
        assertEquals(MediaTypes.OCI_MANIFEST, r.headers().get("Content-Type"));
        byte[] body = new byte[r.content().readableBytes()];
        r.content().getBytes(r.content().readerIndex(), body);
        assertArrayEquals(cold.body(), body);
        assertEquals(body.length, r.headers().getInt("Content-Length"));
      } finally {
        r.release();
      }
    }
    assertEquals(heads, upstream.manifestHeads.get(), "a fresh tag is not asked upstream");

    // A client that does not take the type still gets the spec's error from the fast path.
    DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
        "/v2/app/manifests/1.0");
    req.headers().set("Accept", MediaTypes.DOCKER_MANIFEST);
    channel.writeInbound(req);
    FullHttpResponse refused = channel.readOutbound();
    try {
      assertEquals(404, refused.status().code());
    } finally {
      refused.release();
    }
  }

  @Test
  void aWarmTagPastItsTtlIsRevalidatedUpstream() throws Exception {
    Reply first = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("Accept", MediaTypes.OCI_MANIFEST));
    TestImage next = TestImage.oci().layer(LayerBuilder.layer().file("c", "new")).build();
    upstream.push("library/app", "1.0", next);
    Reply cached = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("Accept", MediaTypes.OCI_MANIFEST));
    assertArrayEquals(first.body(), cached.body(), "within the TTL the tag is served from memory");

    harness.advance(java.time.Duration.ofMinutes(6));
    Reply moved = send(HttpMethod.GET, "/v2/app/manifests/1.0", h -> h.set("Accept", MediaTypes.OCI_MANIFEST));
    assertEquals(200, moved.status());
    assertTrue(!java.util.Arrays.equals(first.body(), moved.body()), "past the TTL the new image is served");
  }
}
