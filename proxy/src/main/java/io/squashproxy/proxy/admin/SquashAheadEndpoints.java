package io.squashproxy.proxy.admin;

import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.proxy.service.RegistryEvents;
import io.squashproxy.proxy.service.SquashAhead;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code POST /notifications} (a Distribution registry's {@code notifications.endpoints} events) and
 * {@code POST /warm} (a JSON list of image references, for a deploy pipeline): both queue images to be
 * squashed ahead of demand, both need {@code Authorization: Bearer SECRET}. Answers: 202 with what was
 * queued; 401 for a missing or wrong secret; 400 for a body that is not what the endpoint takes; 415 for
 * notifications of another media type; 404 when {@code admin.notifications} is not configured. Blocking work
 * (parsing, routing) runs on the caller's executor thread, never the event loop.
 */
final class SquashAheadEndpoints {
  /** What to answer. */
  record Answer(HttpResponseStatus status, String body) {}

  private final Supplier<SquashAhead> ahead;
  private final byte[] expected;

  /** @param secret null: the endpoints are off */
  SquashAheadEndpoints(Supplier<SquashAhead> ahead, String secret) {
    this.ahead = ahead;
    this.expected = secret == null ? null : ("Bearer " + secret).getBytes(StandardCharsets.UTF_8);
  }

  static boolean handles(String path) {
    return path.equals("/notifications") || path.equals("/warm");
  }

  /** Checks on the event loop (no body parsing): an answer when the request is refused at once, else null. */
  Answer refusal(FullHttpRequest req, String path) {
    if (expected == null) {
      return new Answer(HttpResponseStatus.NOT_FOUND, "not found: admin.notifications is not configured\n");
    }
    String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION);
    if (auth == null || !MessageDigest.isEqual(expected, auth.getBytes(StandardCharsets.UTF_8))) {
      return new Answer(HttpResponseStatus.UNAUTHORIZED, "missing or wrong Authorization: Bearer secret\n");
    }
    if (path.equals("/notifications")) {
      String type = req.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
      String bare = type.split(";")[0].trim();
      if (!bare.equals(RegistryEvents.MEDIA_TYPE) && !bare.equals("application/json")) {
        return new Answer(HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type " + RegistryEvents.MEDIA_TYPE + ", not " + type + "\n");
      }
    }
    if (ahead.get() == null) {
      return new Answer(HttpResponseStatus.SERVICE_UNAVAILABLE, "starting: the cache is not open yet\n");
    }
    return null;
  }

  /** Off the event loop: parses the body and queues what it names. */
  Answer handle(String path, byte[] body) {
    SquashAhead queue = ahead.get();
    Map<SquashAhead.Outcome, Integer> outcomes = new EnumMap<>(SquashAhead.Outcome.class);
    try {
      if (path.equals("/notifications")) {
        for (RegistryEvents.Pushed p : RegistryEvents.pushes(body)) {
          outcomes.merge(queue.offer(p), 1, Integer::sum);
        }
      } else {
        for (String image : images(body)) {
          outcomes.merge(queue.offer(image), 1, Integer::sum);
        }
      }
    } catch (IllegalArgumentException | io.squashproxy.proxy.registry.RegistryException e) {
      return new Answer(HttpResponseStatus.BAD_REQUEST, "bad request: " + e.getMessage() + "\n");
    }
    StringBuilder out = new StringBuilder();
    outcomes.forEach((k, v) -> out.append(k.name().toLowerCase(java.util.Locale.ROOT)).append(' ').append(v)
        .append('\n'));
    return new Answer(HttpResponseStatus.ACCEPTED, out.length() == 0 ? "nothing to squash\n" : out.toString());
  }

  /** {@code {"images": ["name:tag", "name@sha256:...", ...]}}. */
  private static List<String> images(byte[] body) {
    try {
      var root = ImageJson.MAPPER.readTree(body);
      var list = root == null ? null : root.path("images");
      if (list == null || !list.isArray() || list.isEmpty()) {
        throw new IllegalArgumentException("expected {\"images\": [\"name:tag\", ...]}");
      }
      List<String> out = new java.util.ArrayList<>();
      for (var n : list) {
        String s = n.asText("");
        if (!n.isTextual() || s.isBlank()) {
          throw new IllegalArgumentException("images: every entry must be an image reference, not " + n);
        }
        out.add(s);
      }
      return out;
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("the body is not JSON");
    }
  }
}
