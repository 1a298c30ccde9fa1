package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.squashproxy.proxy.registry.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The statuses Netty's HTTP handlers answer on their own (the aggregator's 413 and 417) reach the client in
 * the spec's error envelope, like every other error; what the proxy's own handlers write passes unchanged.
 * Bytes in, bytes out, through the listener's HTTP handlers ({@link ProxyInitializer#addHttp}).
 */
class CodecErrorsTest {
  static final ObjectMapper JSON = new ObjectMapper();

  /** What reached the end of the pipeline; the registry handler, there in the listener, closes on these. */
  final List<Throwable> caught = new ArrayList<>();
  final EmbeddedChannel channel = new EmbeddedChannel();

  @BeforeEach
  void pipeline() {
    ProxyInitializer.addHttp(channel.pipeline(), 60);
    channel.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        caught.add(cause);
      }
    });
  }

  @AfterEach
  void release() {
    channel.finishAndReleaseAll();
    // A client that announced a body and never sent it leaves the aggregator mid-message at the close.
    assertTrue(caught.stream().allMatch(PrematureChannelClosureException.class::isInstance), caught.toString());
  }

  @Test
  void aBodyOverTheLimitIs413InTheEnvelope() throws Exception {
    String answer = exchange("PUT /v2/app/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
        + "z".repeat(70_000));
    assertEnvelope(answer, 413, "request body larger than 65536 bytes");
  }

  @Test
  void aBodyAnnouncedOverTheLimitWithExpectContinueIs413InTheEnvelope() throws Exception {
    String answer = exchange("PUT /v2/app/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
        + "Expect: 100-continue\r\n\r\n");
    assertEnvelope(answer, 413, "request body larger than 65536 bytes");
  }

  @Test
  void anUnknownExpectationIs417InTheEnvelope() throws Exception {
    String answer = exchange("GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: teleport\r\n\r\nz");
    assertEnvelope(answer, 417, "unsupported Expect header");
  }

  @Test
  void interimAndOwnResponsesPassUnchanged() {
    // 100 Continue for a body within the limit.
    assertTrue(exchange("PUT /v2/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        .startsWith("HTTP/1.1 100 Continue\r\n"));
    exchange("abc");
    // The proxy's own error to a HEAD: no body, but the Content-Length of the envelope a GET would get.
    FullHttpResponse head = Responses.error(HttpResponseStatus.NOT_FOUND, ErrorCode.MANIFEST_UNKNOWN, "gone",
        null, true);
    int length = head.headers().getInt("content-length");
    channel.writeOutbound(head);
    String written = readOutbound();
    assertTrue(written.contains("content-length: " + length + "\r\n"), written);
    assertTrue(written.endsWith("\r\n\r\n"), "no body: " + written);
    // A success with an empty body.
    channel.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    assertTrue(readOutbound().startsWith("HTTP/1.1 200 OK\r\n"));
  }

  String exchange(String request) {
    channel.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.ISO_8859_1));
    Object inbound;
    while ((inbound = channel.readInbound()) != null) {
      io.netty.util.ReferenceCountUtil.release(inbound); // the requests that got through, if any
    }
    return readOutbound();
  }

  String readOutbound() {
    StringBuilder out = new StringBuilder();
    ByteBuf b;
    while ((b = channel.readOutbound()) != null) {
      out.append(b.toString(StandardCharsets.UTF_8));
      b.release();
    }
    return out.toString();
  }

  static void assertEnvelope(String answer, int status, String message) throws Exception {
    assertTrue(answer.startsWith("HTTP/1.1 " + status + " "), answer);
    int split = answer.indexOf("\r\n\r\n");
    String headers = answer.substring(0, split).toLowerCase();
    String body = answer.substring(split + 4);
    assertTrue(headers.contains("content-type: application/json"), headers);
    assertTrue(headers.contains("content-length: " + body.getBytes(StandardCharsets.UTF_8).length), headers);
    assertTrue(headers.contains("docker-distribution-api-version: registry/2.0"), headers);
    JsonNode err = JSON.readTree(body).path("errors").get(0);
    assertEquals("UNSUPPORTED", err.path("code").asText(), body);
    assertTrue(err.path("message").asText().startsWith(message), body);
    assertNull(JSON.readTree(body).get("detail"));
  }
}
