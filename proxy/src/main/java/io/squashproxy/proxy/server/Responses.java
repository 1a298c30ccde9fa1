package io.squashproxy.proxy.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;

/** Response builders: the spec's error envelope and the headers every response carries. */
public final class Responses {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String API_VERSION_HEADER = "Docker-Distribution-API-Version";
  public static final String API_VERSION = "registry/2.0";

  private Responses() {}

  /** {@code {"errors":[{"code":...,"message":...,"detail":...}]}}, as the distribution spec defines it. */
  public static FullHttpResponse error(RegistryException e, boolean head) {
    FullHttpResponse r = error(e.status(), e.code(), e.getMessage(), e.detail(), head);
    retryAfterHeader(r, e.detail());
    return r;
  }

  /** Upstream's rate limit, passed on: clients read the header, not the envelope's detail. */
  private static void retryAfterHeader(FullHttpResponse r, Object detail) {
    if (detail instanceof java.util.Map<?, ?> m && m.get("retryAfter") instanceof String retryAfter) {
      r.headers().set(HttpHeaderNames.RETRY_AFTER, retryAfter);
    }
  }

  public static FullHttpResponse error(HttpResponseStatus status, ErrorCode code, String message,
      Object detail, boolean head) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode errors = root.putArray("errors");
    ObjectNode err = errors.addObject();
    err.put("code", code.name());
    err.put("message", message == null ? code.name().toLowerCase() : message);
    if (detail != null) {
      err.set("detail", JSON.valueToTree(detail));
    }
    byte[] body;
    try {
      body = JSON.writeValueAsBytes(root);
    } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
      throw new IllegalStateException(ex);
    }
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json; charset=utf-8");
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    r.headers().set(API_VERSION_HEADER, API_VERSION);
    return r;
  }

  public static FullHttpResponse bytes(HttpResponseStatus status, String contentType, byte[] body,
      boolean head) {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    r.headers().set(API_VERSION_HEADER, API_VERSION);
    return r;
  }
}
