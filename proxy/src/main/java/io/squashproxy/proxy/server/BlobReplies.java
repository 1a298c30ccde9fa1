package io.squashproxy.proxy.server;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.DefaultFileRegion;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.stream.ChunkedNioFile;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.service.BlobDownload;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;

/**
 * The answers to blob requests, for {@link RegistryHandler}: a cached blob from its file (zero-copy on plain
 * HTTP, {@code Range} from it), a cold one streamed as it arrives from upstream ({@link GrowingBlobWriter}).
 * Built off the event loop, written on it.
 */
final class BlobReplies {
  /** Cold blobs from this size on go to the client as they arrive; smaller ones once verified. */
  static final long STREAM_FROM = 256 * 1024;

  /** How the handler writes and accounts a response. */
  interface Output {
    void record(ChannelHandlerContext ctx, HttpResponseStatus status, long bytes);

    void send(ChannelHandlerContext ctx, FullHttpResponse resp, boolean keepAlive);

    void finish(ChannelHandlerContext ctx, ChannelFuture last, boolean keepAlive);
  }

  private final ImageService service;
  private final boolean zeroCopy;
  private final Output out;

  BlobReplies(ImageService service, boolean zeroCopy, Output out) {
    this.service = service;
    this.zeroCopy = zeroCopy;
    this.out = out;
  }

  CompletableFuture<Reply> blob(Route route, Digest digest, String rangeHeader, boolean head) {
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
      return (ctx, keepAlive) -> out.send(ctx, resp, keepAlive);
    }
    long offset = range == null ? 0 : range.start();
    long length = range == null ? size : range.length();
    HttpResponse resp = blobHead(d.digest(), range, size, length);
    if (head) {
      reader.close();
      return (ctx, keepAlive) -> {
        out.record(ctx, resp.status(), 0);
        HttpUtil.setKeepAlive(resp, keepAlive);
        ctx.write(resp);
        out.finish(ctx, ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), keepAlive);
      };
    }
    return (ctx, keepAlive) -> {
      if (reader.readable() < 0) {
        // Failed before the first byte: the client can still get an error response instead of a cut.
        reader.close();
        out.send(ctx, Responses.error(ErrorMapping.toRegistryError(d.failure()), false), keepAlive);
        return;
      }
      countRange(range, length);
      out.record(ctx, resp.status(), length);
      HttpUtil.setKeepAlive(resp, keepAlive);
      ctx.writeAndFlush(resp); // flushed: a cut that follows is then a broken body, never retried blind
      new GrowingBlobWriter(ctx, reader, offset, offset + length, zeroCopy,
          last -> out.finish(ctx, last, keepAlive)).start();
    };
  }

  private static HttpResponse blobHead(Digest digest, ByteRange range, long size, long length) {
    HttpResponse resp = new DefaultHttpResponse(HttpVersion.HTTP_1_1,
        range == null ? HttpResponseStatus.OK : HttpResponseStatus.PARTIAL_CONTENT);
    resp.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream");
    resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, length);
    resp.headers().set(HttpHeaderNames.ACCEPT_RANGES, "bytes");
    resp.headers().set(RegistryHandler.DOCKER_CONTENT_DIGEST, digest.toString());
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
      return (ctx, keepAlive) -> out.send(ctx, resp, keepAlive);
    }
    long offset = range == null ? 0 : range.start();
    long length = range == null ? b.size() : range.length();
    HttpResponse resp = blobHead(b.digest(), range, b.size(), length);
    if (head) {
      return (ctx, keepAlive) -> {
        out.record(ctx, resp.status(), 0);
        HttpUtil.setKeepAlive(resp, keepAlive);
        ctx.write(resp);
        out.finish(ctx, ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT), keepAlive);
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
    countRange(range, length);
    return (ctx, keepAlive) -> {
      out.record(ctx, resp.status(), length);
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
      out.finish(ctx, last, keepAlive);
    };
  }

  /** A ranged GET (not HEAD) about to be sent: {@code squash_proxy_blob_range_*}. */
  private void countRange(ByteRange range, long length) {
    if (range == null) {
      return;
    }
    ProxyStats stats = service.stats();
    stats.rangedBlobRequests.increment();
    stats.rangedBlobBytes.add(length);
    if (zeroCopy) {
      stats.rangedBlobRequestsZeroCopy.increment();
    }
  }

  private static void closeQuietly(FileChannel f) {
    try {
      f.close();
    } catch (IOException ignored) {
      // nothing to do
    }
  }
}
