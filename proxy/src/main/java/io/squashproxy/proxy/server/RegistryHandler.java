package io.squashproxy.proxy.server;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.AsciiString;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.ServedManifest;
import io.squashproxy.proxy.service.Upstreams;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the pull side of the distribution API. Everything that may block (the store, upstream, squashing)
 * runs on the service's executors; the answer is written back on this channel's event loop. One request
 * at a time per connection: reading pauses until the response is written, which keeps pipelined requests
 * in order and applies backpressure.
 */
public final class RegistryHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryHandler.class);
  static final String STALE_HEADER = "X-Squash-Proxy-Stale";
  /** On the original manifest served while its squash goes on in the background. */
  static final String SQUASH_HEADER = "X-Squash-Proxy-Squash";
  static final AsciiString DOCKER_CONTENT_DIGEST = AsciiString.cached("Docker-Content-Digest");

  private final ImageService service;
  private final Upstreams upstreams;
  private final Executor io;
  private final boolean zeroCopy;
  private final RequestMetrics metrics;
  private final BlobReplies blobs;
  private volatile boolean inFlight;
  private long started;
  private String routeTag = "other";
  private String methodTag = "GET";
  private String uri = "";

  public RegistryHandler(ImageService service, Upstreams upstreams, Executor io, boolean zeroCopy,
      RequestMetrics metrics) {
    this.service = service;
    this.upstreams = upstreams;
    this.io = io;
    this.zeroCopy = zeroCopy;
    this.metrics = metrics;
    this.blobs = new BlobReplies(service, zeroCopy, new BlobReplies.Output() {
      @Override
      public void record(ChannelHandlerContext ctx, HttpResponseStatus status, long bytes) {
        RegistryHandler.this.record(ctx, status, bytes);
      }

      @Override
      public void send(ChannelHandlerContext ctx, FullHttpResponse resp, boolean keepAlive) {
        RegistryHandler.this.send(ctx, resp, keepAlive);
      }

      @Override
      public void finish(ChannelHandlerContext ctx, ChannelFuture last, boolean keepAlive) {
        RegistryHandler.finish(ctx, last, keepAlive);
      }
    });
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    boolean head = req.method().equals(HttpMethod.HEAD);
    started = System.nanoTime();
    routeTag = "other";
    methodTag = req.method().name();
    uri = req.uri();
    if (!req.decoderResult().isSuccess()) {
      Throwable cause = req.decoderResult().cause();
      send(ctx, MalformedRequests.response(cause), false);
      return;
    }
    V2Request r;
    try {
      r = V2Request.parse(req.uri());
    } catch (RegistryException e) {
      send(ctx, Responses.error(e, head), keepAlive);
      return;
    }
    if (r == null) {
      send(ctx, Responses.error(HttpResponseStatus.NOT_FOUND, ErrorCode.NAME_UNKNOWN, "not found", null, head),
          keepAlive);
      return;
    }
    if (!(req.method().equals(HttpMethod.GET) || head) || r.kind() == V2Request.Kind.UPLOAD) {
      FullHttpResponse resp = Responses.error(ErrorCode.UNSUPPORTED.status(), ErrorCode.UNSUPPORTED,
          "this registry is a read-only pull-through proxy", null, head);
      resp.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
      send(ctx, resp, keepAlive);
      return;
    }
    routeTag = r.kind().name().toLowerCase(java.util.Locale.ROOT);
    if (r.kind() == V2Request.Kind.BASE) {
      send(ctx, Responses.bytes(HttpResponseStatus.OK, "application/json", "{}".getBytes(), head), keepAlive);
      return;
    }
    Route route;
    AcceptHeader accept = null;
    String ifNoneMatch = null;
    try {
      route = upstreams.resolve(r.name(), r.param("ns"));
      if (r.kind() == V2Request.Kind.MANIFEST) {
        accept = AcceptHeader.parse(req.headers().getAll(HttpHeaderNames.ACCEPT));
        ifNoneMatch = req.headers().get(HttpHeaderNames.IF_NONE_MATCH);
        // A warm pull's manifest is in memory: answer here, with no executor hop and no pause in reading.
        // Not while an earlier request's answer is pending (a pipelining client decoded in the same read):
        // this answer must not overtake it.
        ServedManifest hot = inFlight ? null : service.cachedManifest(route, r.reference());
        if (hot != null && (!MediaTypes.isIndex(hot.mediaType()) || accept.acceptsIndexes())) {
          sendNow(ctx, manifestResponse(hot, accept, ifNoneMatch, head), keepAlive);
          return;
        }
      }
    } catch (RuntimeException e) {
      send(ctx, Responses.error(ErrorMapping.toRegistryError(e), head), keepAlive);
      return;
    }
    ctx.channel().config().setAutoRead(false);
    inFlight = true;
    CompletableFuture<Reply> reply;
    try {
      reply = switch (r.kind()) {
        case MANIFEST -> manifest(route, r.reference(), accept, ifNoneMatch, head);
        case BLOB -> {
          Digest digest = Digest.parse(r.reference());
          String rangeHeader = req.headers().get(HttpHeaderNames.RANGE);
          // Even a cache lookup touches the disk: off the event loop.
          yield CompletableFuture.supplyAsync(() -> blobs.blob(route, digest, rangeHeader, head), io)
              .thenCompose(f -> f);
        }
        case TAGS -> tags(route, r, head);
        case REFERRERS -> referrers(route, r, head);
        default -> throw new IllegalStateException(r.kind().toString());
      };
    } catch (RuntimeException e) {
      reply = CompletableFuture.failedFuture(e);
    }
    reply.whenCompleteAsync((ok, err) -> {
      inFlight = false;
      if (err != null) {
        send(ctx, Responses.error(ErrorMapping.toRegistryError(err), head), keepAlive);
      } else {
        ok.write(ctx, keepAlive);
      }
    }, ctx.executor());
  }

  private CompletableFuture<Reply> manifest(Route route, String reference, AcceptHeader accept,
      String ifNoneMatch, boolean head) {
    return service.manifest(route, reference).thenCompose(m -> {
      if (MediaTypes.isIndex(m.mediaType()) && !accept.acceptsIndexes()) {
        return pickDefaultPlatform(route, m);
      }
      return CompletableFuture.completedFuture(m);
    }).thenApply(m -> {
      FullHttpResponse resp = manifestResponse(m, accept, ifNoneMatch, head);
      return (ctx, keepAlive) -> send(ctx, resp, keepAlive);
    });
  }

  /** The manifest's bytes as they are (wrapped, not copied), with the registry's headers. */
  private static FullHttpResponse manifestResponse(ServedManifest m, AcceptHeader accept, String ifNoneMatch,
      boolean head) {
    if (!accept.accepts(m.mediaType()) && !MediaTypes.isIndex(m.mediaType())) {
      throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "the manifest is " + m.mediaType()
          + ", which the Accept header does not allow");
    }
    String etag = m.etag();
    boolean notModified = ifNoneMatch != null && etag.equals(ifNoneMatch);
    FullHttpResponse resp = notModified
        ? Responses.bytes(HttpResponseStatus.NOT_MODIFIED, m.mediaType(), new byte[0], true)
        : Responses.bytes(HttpResponseStatus.OK, m.mediaType(), m.bytes(), head);
    if (head || notModified) {
      resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, m.bytes().length);
    }
    resp.headers().set(DOCKER_CONTENT_DIGEST, m.digestText());
    resp.headers().set(HttpHeaderNames.ETAG, etag);
    if (m.squashPending()) {
      resp.headers().set(SQUASH_HEADER, "pending");
    }
    if (m.stale()) {
      resp.headers().set(STALE_HEADER, "true");
      resp.headers().add(HttpHeaderNames.WARNING, "110 squash-proxy \"Response is Stale\"");
    }
    return resp;
  }

  /** For clients that take no index: the linux/amd64 image, as Distribution serves them. */
  private CompletableFuture<ServedManifest> pickDefaultPlatform(Route route, ServedManifest index) {
    try {
      for (var d : ImageIndex.parse(index.bytes()).manifests()) {
        var p = d.json().path("platform");
        if ("linux".equals(p.path("os").asText()) && "amd64".equals(p.path("architecture").asText())) {
          return service.manifest(route, d.digest().toString());
        }
      }
    } catch (IOException e) {
      throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "unreadable index: " + e.getMessage());
    }
    throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
        "the image is an index without linux/amd64, and the Accept header does not allow indexes");
  }

  private CompletableFuture<Reply> tags(Route route, V2Request r, boolean head) {
    Integer n = null;
    String nParam = r.param("n");
    if (nParam != null) {
      try {
        n = Integer.parseInt(nParam);
      } catch (NumberFormatException e) {
        throw new RegistryException(ErrorCode.UNSUPPORTED, HttpResponseStatus.BAD_REQUEST,
            "invalid n: " + nParam, null, null);
      }
    }
    return service.tags(route, n, r.param("last")).thenApply(page -> {
      byte[] body = TagLists.renamed(page.body(), route.clientName());
      FullHttpResponse resp = Responses.bytes(HttpResponseStatus.OK, "application/json", body, head);
      if (page.link() != null) {
        resp.headers().set("Link",
            page.link().replace("/v2/" + route.repository() + "/", "/v2/" + route.clientName() + "/"));
      }
      return (ctx, keepAlive) -> send(ctx, resp, keepAlive);
    });
  }

  /** {@code GET /v2/<name>/referrers/<digest>}: always an image index, empty when nothing refers to it. */
  private CompletableFuture<Reply> referrers(Route route, V2Request r, boolean head) {
    Digest digest = Digest.parse(r.reference());
    return service.referrers(route, digest, r.param("artifactType")).thenApply(listing -> {
      FullHttpResponse resp = Responses.bytes(HttpResponseStatus.OK, MediaTypes.OCI_INDEX, listing.index(), head);
      if (listing.filtered()) {
        resp.headers().set("OCI-Filters-Applied", "artifactType");
      }
      if (listing.link() != null) {
        resp.headers().set("Link",
            listing.link().replace("/v2/" + route.repository() + "/", "/v2/" + route.clientName() + "/"));
      }
      return (ctx, keepAlive) -> send(ctx, resp, keepAlive);
    });
  }

  private void record(ChannelHandlerContext ctx, HttpResponseStatus status, long bytes) {
    long nanos = System.nanoTime() - started;
    metrics.record(routeTag, methodTag, status.code(), nanos);
    metrics.log(ctx.channel().remoteAddress(), methodTag, uri, status.code(), bytes, nanos);
  }

  private void send(ChannelHandlerContext ctx, FullHttpResponse resp, boolean keepAlive) {
    record(ctx, resp.status(), resp.content().readableBytes());
    HttpUtil.setKeepAlive(resp, keepAlive);
    finish(ctx, ctx.writeAndFlush(resp), keepAlive);
  }

  /** {@link #send} for a response written while reading its request: reading was never paused. */
  private void sendNow(ChannelHandlerContext ctx, FullHttpResponse resp, boolean keepAlive) {
    record(ctx, resp.status(), resp.content().readableBytes());
    HttpUtil.setKeepAlive(resp, keepAlive);
    ctx.writeAndFlush(resp).addListener(keepAlive ? ChannelFutureListener.CLOSE_ON_FAILURE
        : ChannelFutureListener.CLOSE);
  }

  private static void finish(ChannelHandlerContext ctx, ChannelFuture last, boolean keepAlive) {
    if (!keepAlive) {
      last.addListener(ChannelFutureListener.CLOSE);
      return;
    }
    last.addListener(f -> {
      if (f.isSuccess()) {
        ctx.channel().config().setAutoRead(true);
      } else {
        ctx.close();
      }
    });
  }


  /**
   * Slow or silent clients lose their connection; a client waiting for a squash (no bytes either way for
   * minutes) does not.
   */
  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof io.netty.handler.timeout.IdleStateEvent) {
      if (!inFlight) {
        ctx.close();
      }
      return;
    }
    super.userEventTriggered(ctx, evt);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    LOG.debug("connection error: {}", cause.toString());
    ctx.close();
  }
}
