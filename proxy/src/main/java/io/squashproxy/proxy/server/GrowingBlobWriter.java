package io.squashproxy.proxy.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.squashproxy.proxy.service.BlobDownload;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * Sends a blob that is still arriving from upstream (with an announced size), byte range {@code [start, end)}, as the bytes
 * become {@link BlobDownload.Reader#readable readable}. Runs on the channel's event loop; one chunk in
 * flight at a time, so a slow client holds no more than one chunk in memory and never slows the download
 * or other clients. When the download fails the connection is cut, so the client never takes a short or
 * wrong blob for a whole one.
 */
final class GrowingBlobWriter {
  private static final int CHUNK = 128 * 1024;

  private final ChannelHandlerContext ctx;
  private final BlobDownload.Reader reader;
  private final Consumer<ChannelFuture> onLast;
  private long next;
  private final long end;

  GrowingBlobWriter(ChannelHandlerContext ctx, BlobDownload.Reader reader, long start, long end,
      Consumer<ChannelFuture> onLast) {
    this.ctx = ctx;
    this.reader = reader;
    this.next = start;
    this.end = end;
    this.onLast = onLast;
  }

  /** Call on the event loop, after the response head was written. */
  void start() {
    pump();
  }

  private void pump() {
    if (!ctx.channel().isActive()) {
      reader.close();
      return;
    }
    long limit = reader.readable();
    if (limit < 0) {
      cut();
      return;
    }
    if (next >= end) {
      reader.close();
      onLast.accept(ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT));
      return;
    }
    long available = Math.min(limit, end) - next;
    if (available <= 0) {
      reader.whenReadableBeyond(limit, () -> ctx.executor().execute(this::pump));
      return;
    }
    int n = (int) Math.min(available, CHUNK);
    ByteBuf buf = ctx.alloc().ioBuffer(n);
    try {
      ByteBuffer target = buf.nioBuffer(0, n);
      while (target.hasRemaining()) {
        if (reader.read(target, next + target.position()) < 0) {
          throw new IOException("blob file ended early");
        }
      }
      buf.writerIndex(n);
    } catch (IOException e) {
      buf.release();
      cut();
      return;
    }
    next += n;
    ctx.writeAndFlush(new DefaultHttpContent(buf)).addListener(f -> {
      if (f.isSuccess()) {
        ctx.executor().execute(this::pump); // a hop, not recursion: a fast client would grow the stack
      } else {
        reader.close();
        ctx.close();
      }
    });
  }

  private void cut() {
    reader.close();
    ctx.close();
  }
}
