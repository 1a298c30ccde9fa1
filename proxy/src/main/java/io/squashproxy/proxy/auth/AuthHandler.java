package io.squashproxy.proxy.auth;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.ReferenceCountUtil;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.server.RequestMetrics;
import io.squashproxy.proxy.server.Responses;
import io.squashproxy.proxy.server.V2Request;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sits in front of the registry handler: answers {@code /token} (token mode), and lets a {@code /v2/}
 * request through only if the client may pull its repository, and only for a digest that repository holds.
 * Otherwise it answers as Distribution does: {@code 401} with a {@code WWW-Authenticate} challenge
 * ({@code Basic realm=...}, or {@code Bearer realm=...,service=...,scope=...}) when the client is not
 * (or not validly) logged in, {@code 403 DENIED} when it is but may not pull, in the spec's error envelope.
 * It also watches the manifests the registry handler sends back, to link their digests to the repository.
 */
final class AuthHandler extends ChannelDuplexHandler {
  private static final Logger LOG = LoggerFactory.getLogger(AuthHandler.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final AccessControl access;
  private final boolean tls;
  /** The manifest request passed on, whose response's digests get linked to its route. */
  private Route manifestRoute;
  private long started;
  private String routeTag = "other";
  private String uri = "";

  /** Who the client is: {@code user} null for anonymous; {@code token} null unless it sent a bearer token. */
  private record Identity(String user, TokenService.Token token) {
    static final Identity ANONYMOUS = new Identity(null, null);
  }

  AuthHandler(AccessControl access, boolean tls) {
    this.access = access;
    this.tls = tls;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest req) || !req.decoderResult().isSuccess()) {
      ctx.fireChannelRead(msg);
      return;
    }
    manifestRoute = null;
    started = System.nanoTime();
    uri = req.uri();
    QueryStringDecoder q = new QueryStringDecoder(req.uri());
    routeTag = q.path().equals("/token") ? "token" : "other";
    if (access.tokenMode() && q.path().equals("/token")) {
      tokenEndpoint(ctx, req, q);
      return;
    }
    if (!(q.path().equals("/v2") || q.path().startsWith("/v2/"))) {
      ctx.fireChannelRead(msg); // not the registry API: the registry handler answers 404
      return;
    }
    V2Request r;
    try {
      r = V2Request.parse(req.uri());
    } catch (RuntimeException e) {
      r = null; // an invalid name: the registry handler says so, to a client that may see the API
    }
    V2Request parsed = r;
    if (r != null) {
      routeTag = r.kind().name().toLowerCase(java.util.Locale.ROOT);
    }
    String authorization = req.headers().get(HttpHeaderNames.AUTHORIZATION);
    if (authorization == null) {
      authorize(ctx, req, parsed, Identity.ANONYMOUS);
    } else if (authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
      ctx.channel().config().setAutoRead(false);
      access.basic().user(authorization).whenCompleteAsync((user, err) -> {
        if (err != null || user.isEmpty()) {
          unauthorized(ctx, req, parsed, "invalid username or password", false);
        } else {
          authorize(ctx, req, parsed, new Identity(user.get(), null));
        }
      }, ctx.executor());
    } else if (access.tokenMode() && authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      Optional<TokenService.Token> token = access.tokens().check(authorization.substring(7).strip());
      if (token.isEmpty()) {
        unauthorized(ctx, req, parsed, "invalid or expired token", false);
      } else {
        authorize(ctx, req, parsed, new Identity(token.get().user(), token.get()));
      }
    } else {
      unauthorized(ctx, req, parsed, "unsupported authorization scheme", false);
    }
  }

  /** Runs on the event loop, with the client identified. */
  private void authorize(ChannelHandlerContext ctx, FullHttpRequest req, V2Request r, Identity id) {
    if (r == null || r.kind() == V2Request.Kind.BASE) {
      // /v2/ (docker login checks it), _catalog, unparsable names: any valid login, never anonymous.
      if (id.user() == null && id.token() == null) {
        unauthorized(ctx, req, r, "authentication required", false);
      } else {
        pass(ctx, req, null);
      }
      return;
    }
    Route route = access.route(r.name(), r.param("ns"));
    boolean allowed = access.mayPull(route, r.name(), id.user());
    boolean scoped = id.token() == null || id.token().pull().contains(r.name());
    if (!allowed && id.user() != null) {
      LOG.info("denied {} pulling {}", id.user(), route == null ? r.name() : route.canonicalName());
      reply(ctx, req, Responses.error(HttpResponseStatus.FORBIDDEN, ErrorCode.DENIED,
          "requested access to the resource is denied", null, isHead(req)));
      return;
    }
    if (!allowed || !scoped) {
      unauthorized(ctx, req, r, "authentication required", id.token() != null);
      return;
    }
    if (route == null) {
      pass(ctx, req, null);
      return;
    }
    Digest digest = digestOf(r);
    if (digest == null || access.links().isLinked(route, digest)) {
      pass(ctx, req, r.kind() == V2Request.Kind.MANIFEST ? route : null);
      return;
    }
    boolean manifest = r.kind() == V2Request.Kind.MANIFEST;
    ctx.channel().config().setAutoRead(false);
    access.links().confirm(route, digest, manifest).whenCompleteAsync((held, err) -> {
      if (err != null) {
        reply(ctx, req, confirmFailed(route, r, digest, err, isHead(req)));
      } else if (!held) {
        ErrorCode code = manifest ? ErrorCode.MANIFEST_UNKNOWN : ErrorCode.BLOB_UNKNOWN;
        reply(ctx, req, Responses.error(code.status(), code, (manifest ? "manifest " : "blob ") + digest
            + " is not known in repository " + r.name(), null, isHead(req)));
      } else {
        pass(ctx, req, manifest ? route : null);
      }
    }, ctx.executor());
  }

  /** Upstream could not say whether the repository holds the digest: as the registry handler maps it. */
  private FullHttpResponse confirmFailed(Route route, V2Request r, Digest digest, Throwable err,
      boolean head) {
    Throwable e = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
        ? err.getCause() : err;
    int status = e instanceof UpstreamException u ? u.status() : 0;
    LOG.warn("cannot confirm {} in {}: {}", digest, route.canonicalName(), e.getMessage());
    if (status == 401 || status == 403) {
      return Responses.error(HttpResponseStatus.FORBIDDEN, ErrorCode.DENIED, "upstream denied access to "
          + r.name(), null, head);
    }
    if (status == 429) {
      return Responses.error(HttpResponseStatus.TOO_MANY_REQUESTS, ErrorCode.TOOMANYREQUESTS,
          "upstream rate limit", null, head);
    }
    return Responses.error(HttpResponseStatus.SERVICE_UNAVAILABLE, ErrorCode.UNKNOWN,
        "cannot confirm with the upstream registry that " + r.name() + " holds " + digest + "; retry later",
        null, head);
  }

  private static Digest digestOf(V2Request r) {
    boolean byDigest = r.kind() == V2Request.Kind.BLOB
        || (r.kind() == V2Request.Kind.MANIFEST && Names.isDigest(r.reference()));
    if (!byDigest) {
      return null;
    }
    try {
      return Digest.parse(r.reference());
    } catch (IllegalArgumentException e) {
      return null; // the registry handler refuses it
    }
  }

  private void pass(ChannelHandlerContext ctx, FullHttpRequest req, Route linkTo) {
    manifestRoute = linkTo;
    // Whoever paused reading resumes it: the registry handler answers a warm manifest at once without
    // touching autoRead, so a pause left from a password check or upstream confirmation would stall the
    // connection. It pauses again itself when its answer is asynchronous (InOrderResponses keeps order).
    ctx.channel().config().setAutoRead(true);
    ctx.fireChannelRead(req);
  }

  /** Links the digests of a manifest the registry handler serves for the route it was authorized for. */
  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
    Route route = manifestRoute;
    if (route != null && msg instanceof HttpResponse resp) {
      manifestRoute = null;
      int status = resp.status().code();
      if (status == 200 || status == 304) {
        String digest = resp.headers().get("Docker-Content-Digest");
        byte[] body = status == 200 && msg instanceof FullHttpResponse full && full.content().isReadable()
            ? ByteBufUtil.getBytes(full.content()) : null;
        access.links().linkManifest(route, digest, body);
      }
    }
    ctx.write(msg, promise);
  }

  private void unauthorized(ChannelHandlerContext ctx, FullHttpRequest req, V2Request r, String message,
      boolean insufficientScope) {
    FullHttpResponse resp = Responses.error(HttpResponseStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, message,
        null, isHead(req));
    resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, challenge(ctx, req, r, insufficientScope));
    reply(ctx, req, resp);
  }

  private String challenge(ChannelHandlerContext ctx, FullHttpRequest req, V2Request r, boolean insufficient) {
    if (!access.tokenMode()) {
      return "Basic realm=\"" + access.realm() + "\"";
    }
    StringBuilder c = new StringBuilder("Bearer realm=\"").append(tokenRealm(ctx, req))
        .append("\",service=\"").append(access.realm()).append('"');
    if (r != null && r.name() != null) {
      c.append(",scope=\"repository:").append(r.name()).append(":pull\"");
      if (insufficient) {
        c.append(",error=\"insufficient_scope\"");
      }
    }
    return c.toString();
  }

  private String tokenRealm(ChannelHandlerContext ctx, FullHttpRequest req) {
    if (access.tokenRealm() != null) {
      return access.tokenRealm();
    }
    String host = req.headers().get(HttpHeaderNames.HOST);
    if (host == null || host.isBlank() || host.contains("\"") || host.contains("/")) {
      InetSocketAddress local = (InetSocketAddress) ctx.channel().localAddress();
      host = local.getAddress().getHostAddress() + ":" + local.getPort();
    }
    return (tls ? "https://" : "http://") + host + "/token";
  }

  /**
   * Distribution's token endpoint: {@code GET /token?service=S&scope=repository:NAME:pull} with optional
   * Basic credentials (docker, podman), or the OAuth2 form {@code POST /token} with
   * {@code grant_type=password} (containerd tries it first). Grants the requested pull scopes the rules
   * allow; anonymous clients get the anonymous ones.
   */
  private void tokenEndpoint(ChannelHandlerContext ctx, FullHttpRequest req, QueryStringDecoder q) {
    boolean post = req.method().equals(HttpMethod.POST);
    if (!post && !req.method().equals(HttpMethod.GET)) {
      reply(ctx, req, Responses.error(HttpResponseStatus.METHOD_NOT_ALLOWED, ErrorCode.UNSUPPORTED,
          "GET or POST the token endpoint", null, false));
      return;
    }
    var params = post ? new QueryStringDecoder("/token?" + req.content().toString(StandardCharsets.UTF_8))
        .parameters() : q.parameters();
    String service = first(params.get("service"));
    if (service != null && !service.equals(access.realm())) {
      reply(ctx, req, Responses.error(HttpResponseStatus.BAD_REQUEST, ErrorCode.UNSUPPORTED,
          "unknown service " + service + "; this proxy's is " + access.realm(), null, false));
      return;
    }
    List<String> scopes = params.getOrDefault("scope", List.of());
    String authorization = req.headers().get(HttpHeaderNames.AUTHORIZATION);
    if (post) {
      String grant = first(params.get("grant_type"));
      if (!"password".equals(grant)) {
        // refresh_token grants: we issue no refresh tokens; clients fall back to GET with Basic.
        reply(ctx, req, Responses.error(HttpResponseStatus.BAD_REQUEST, ErrorCode.UNSUPPORTED,
            "unsupported grant_type " + grant, null, false));
        return;
      }
      String user = first(params.get("username"));
      String password = first(params.get("password"));
      authorization = user == null ? null : "Basic " + java.util.Base64.getEncoder().encodeToString(
          (user + ":" + (password == null ? "" : password)).getBytes(StandardCharsets.UTF_8));
    }
    if (authorization == null) {
      issue(ctx, req, null, scopes);
      return;
    }
    ctx.channel().config().setAutoRead(false);
    access.basic().user(authorization).whenCompleteAsync((user, err) -> {
      if (err != null || user.isEmpty()) {
        FullHttpResponse resp = Responses.error(HttpResponseStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED,
            "invalid username or password", null, false);
        resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Basic realm=\"" + access.realm() + "\"");
        reply(ctx, req, resp);
      } else {
        issue(ctx, req, user.get(), scopes);
      }
    }, ctx.executor());
  }

  private void issue(ChannelHandlerContext ctx, FullHttpRequest req, String user, List<String> scopes) {
    Set<String> granted = new LinkedHashSet<>();
    for (String scope : scopes) {
      for (String one : scope.split(" ")) {
        // repository:NAME:ACTIONS, where NAME may hold a port (host:5000/img): actions after the last colon.
        int first = one.indexOf(':');
        int last = one.lastIndexOf(':');
        if (first < 0 || last <= first || !one.substring(0, first).equals("repository")) {
          continue;
        }
        String name = one.substring(first + 1, last);
        List<String> actions = List.of(one.substring(last + 1).split(","));
        if ((actions.contains("pull") || actions.contains("*")) && Names.isValidName(name)
            && access.mayPull(access.route(name, null), name, user)) {
          granted.add(name);
        }
      }
    }
    TokenService.Issued t = access.tokens().issue(user, granted);
    ObjectNode body = JSON.createObjectNode();
    body.put("token", t.token());
    body.put("access_token", t.token());
    body.put("expires_in", t.expiresIn());
    body.put("issued_at", DateTimeFormatter.ISO_INSTANT.format(t.issuedAt()));
    FullHttpResponse resp = Responses.bytes(HttpResponseStatus.OK, "application/json",
        body.toString().getBytes(StandardCharsets.UTF_8), false);
    resp.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    reply(ctx, req, resp);
  }

  private static String first(List<String> values) {
    return values == null || values.isEmpty() ? null : values.get(0);
  }

  private static boolean isHead(FullHttpRequest req) {
    return req.method().equals(HttpMethod.HEAD);
  }

  /** Answers the request here (it does not reach the registry handler) and resumes reading. */
  private void reply(ChannelHandlerContext ctx, FullHttpRequest req, FullHttpResponse resp) {
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    RequestMetrics metrics = access.metrics();
    if (metrics != null) {
      long nanos = System.nanoTime() - started;
      metrics.record(routeTag, req.method().name(), resp.status().code(), nanos);
      metrics.log(ctx.channel().remoteAddress(), req.method().name(), uri, resp.status().code(),
          resp.content().readableBytes(), nanos);
    }
    ReferenceCountUtil.release(req);
    HttpUtil.setKeepAlive(resp, keepAlive);
    var written = ctx.writeAndFlush(resp);
    if (!keepAlive) {
      written.addListener(ChannelFutureListener.CLOSE);
    } else {
      written.addListener(f -> {
        if (f.isSuccess()) {
          ctx.channel().config().setAutoRead(true);
        } else {
          ctx.close();
        }
      });
    }
  }

}
