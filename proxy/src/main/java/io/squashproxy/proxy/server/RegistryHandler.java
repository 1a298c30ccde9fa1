package io.squashproxy.proxy.server;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.stream.ChunkedNioFile;
import io.netty.util.AsciiString;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.service.BlobDownload;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.ServedManifest;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
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
  /** Cold blobs from this size on go to the client as they arrive; smaller ones once verified. */
  static final long STREAM_FROM = 256 * 1024;
  private static final AsciiString DOCKER_CONTENT_DIGEST = AsciiString.cached("Docker-Content-Digest");

  private final ImageService service;
  private final Upstreams upstreams;
  private final Executor io;
  private final boolean zeroCopy;
  private final RequestMetrics metrics;
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
          yield CompletableFuture.supplyAsync(() -> blob(route, digest, rangeHeader, head), io)
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

  /** A response ready to be written on the event loop. */
  private interface Reply {
    void write(ChannelHandlerContext ctx, boolean keepAlive);
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

  private CompletableFuture<Reply> blob(Route route, Digest digest, String rangeHeader, boolean head) {
    // Called on the io pool, and the service completes on its own pools: no second hop is needed.
    return service.serveBlob(route, digest).thenCompose(b -> {
      if (b.stored() != null) {
        return CompletableFuture.completedFuture(blobReply(b.stored(), rangeHeader, head));
      }
      BlobDownload d = b.growing();
      // A small blob is answered once verified: streaming it gains nothing, and a bad one then gets an error
      // response naming the problem rather than a cut connection. So is one upstream sent without a length
      // (rare: Distribution always sends it), which a range or HEAD could not be answered for anyway.
      BlobDownload.Reader reader = d.size() < STREAM_FROM ? null : d.openReader();
      if (reader == null) {
        return d.done().thenApply(stored -> blobReply(stored, rangeHeader, head));
      }
      try {
        return CompletableFuture.completedFuture(growingReply(d, reader, rangeHeader, head));
      } catch (RuntimeException e) {
        reader.close();
        throw e;
      }
    });
  }

  /** A cold blob, streamed as it arrives from upstream (see {@link GrowingBlobWriter}). */
  private Reply growingReply(BlobDownload d, BlobDownload.Reader reader, String rangeHeader, boolean head) {
    long size = d.size();
    ByteRange range = ByteRange.parse(rangeHeader, size);
    if (range == ByteRange.UNSATISFIABLE) {
      reader.close();
      FullHttpResponse resp = Responses.error(HttpResponseStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
          ErrorCode.BLOB_UNKNOWN, "range not satisfiable for a blob of " + size + " bytes", null, head);
      resp.headers().set(HttpHeaderNames.CONTENT_RANGE, "bytes */" + size);
      return (ctx, keepAlive) -> send(ctx, resp, keepAlive);
    }
    long offset = range == null ? 0 : range.start();
    long length = range == null ? size : range.length();
    HttpResponse resp = blobHead(d.digest(), range, size, length);
    if (head) {
      reader.close();
      return (ctx, keepAlive) -> {
        record(ctx, resp.status(), 0);
        HttpUtil.setKeepAlive(resp, keepAlive);
        ctx.write(resp);
        finish(ctx, ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), keepAlive);
      };
    }
    return (ctx, keepAlive) -> {
      if (reader.readable() < 0) {
        // Failed before the first byte: the client can still get an error response instead of a cut.
        reader.close();
        send(ctx, Responses.error(ErrorMapping.toRegistryError(d.failure()), false), keepAlive);
        return;
      }
      record(ctx, resp.status(), length);
      HttpUtil.setKeepAlive(resp, keepAlive);
      ctx.writeAndFlush(resp); // flushed: a cut that follows is then a broken body, never retried blind
      new GrowingBlobWriter(ctx, reader, offset, offset + length,
          last -> finish(ctx, last, keepAlive)).start();
    };
  }

  private static HttpResponse blobHead(Digest digest, ByteRange range, long size, long length) {
    HttpResponse resp = new DefaultHttpResponse(HttpVersion.HTTP_1_1,
        range == null ? HttpResponseStatus.OK : HttpResponseStatus.PARTIAL_CONTENT);
    resp.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream");
    resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, length);
    resp.headers().set(HttpHeaderNames.ACCEPT_RANGES, "bytes");
    resp.headers().set(DOCKER_CONTENT_DIGEST, digest.toString());
    resp.headers().set(HttpHeaderNames.ETAG, "\"" + digest + "\"");
    resp.headers().set(Responses.API_VERSION_HEADER, Responses.API_VERSION);
    if (range != null) {
      resp.headers().set(HttpHeaderNames.CONTENT_RANGE, "bytes " + range.start() + "-" + range.end() + "/" + size);
    }
    return resp;
  }

  /** Runs off the event loop (io or squash pool): opening the file is blocking I/O. */
  private Reply blobReply(StoredBlob b, String rangeHeader, boolean head) {
    ByteRange range = ByteRange.parse(rangeHeader, b.size());
    if (range == ByteRange.UNSATISFIABLE) {
      FullHttpResponse resp = Responses.error(HttpResponseStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
          ErrorCode.BLOB_UNKNOWN, "range not satisfiable for a blob of " + b.size() + " bytes", null, head);
      resp.headers().set(HttpHeaderNames.CONTENT_RANGE, "bytes */" + b.size());
      return (ctx, keepAlive) -> send(ctx, resp, keepAlive);
    }
    long offset = range == null ? 0 : range.start();
    long length = range == null ? b.size() : range.length();
    HttpResponse resp = blobHead(b.digest(), range, b.size(), length);
    if (head) {
      return (ctx, keepAlive) -> {
        record(ctx, resp.status(), 0);
        HttpUtil.setKeepAlive(resp, keepAlive);
        ctx.write(resp);
        finish(ctx, ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), keepAlive);
      };
    }
    FileChannel file;
    try {
      // Opened now, so a blob evicted after this point still streams whole (the inode lives on).
      file = FileChannel.open(b.path(), StandardOpenOption.READ);
    } catch (IOException e) {
      throw new RegistryException(ErrorCode.BLOB_UNKNOWN, HttpResponseStatus.NOT_FOUND,
          "blob " + b.digest() + " left the cache; retry", null, e);
    }
    return (ctx, keepAlive) -> {
      record(ctx, resp.status(), length);
      HttpUtil.setKeepAlive(resp, keepAlive);
      ctx.write(resp);
      ChannelFuture last;
      if (zeroCopy) {
        ctx.write(new DefaultFileRegion(file, offset, length));
        last = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
      } else {
        try {
          last = ctx.writeAndFlush(new HttpChunkedInput(new ChunkedNioFile(file, offset, length, 1 << 16)));
        } catch (IOException e) {
          closeQuietly(file);
          ctx.close();
          return;
        }
      }
      // DefaultFileRegion and ChunkedNioFile close the file when released or done.
      finish(ctx, last, keepAlive);
    };
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

  private static void closeQuietly(FileChannel f) {
    try {
      f.close();
    } catch (IOException ignored) {
      // nothing to do
    }
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
