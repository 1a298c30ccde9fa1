package io.squashproxy.proxy.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.DefaultFileRegion;
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
 *
 * <p>On plain HTTP a chunk is a region of the growing file sent with {@code sendfile}: the bytes go from the
 * page cache the download just wrote to the socket without a copy through the JVM, and the event loop never
 * reads the file itself. Under TLS (whose encryption needs the bytes) a chunk is read into a buffer.
 */
final class GrowingBlobWriter {
  private static final int CHUNK = 128 * 1024;
  /** A region may be larger: sending it costs no memory, and fewer hops keep up with a fast download. */
  private static final long REGION = 4L << 20;

  private final ChannelHandlerContext ctx;
  private final BlobDownload.Reader reader;
  private final Consumer<ChannelFuture> onLast;
  private final boolean zeroCopy;
  private long next;
  private final long end;

  /** @param zeroCopy send regions of the file ({@code sendfile}); false under TLS */
  GrowingBlobWriter(ChannelHandlerContext ctx, BlobDownload.Reader reader, long start, long end, boolean zeroCopy,
      Consumer<ChannelFuture> onLast) {
    this.ctx = ctx;
    this.reader = reader;
    this.zeroCopy = zeroCopy;
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
    if (zeroCopy) {
      long n = Math.min(available, REGION);
      Object region = new SharedFileRegion(reader.channel(), next, n);
      next += n;
      ctx.writeAndFlush(region).addListener(this::written);
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
    ctx.writeAndFlush(new DefaultHttpContent(buf)).addListener(this::written);
  }

  private void written(io.netty.util.concurrent.Future<? super Void> f) {
    if (f.isSuccess()) {
      ctx.executor().execute(this::pump); // a hop, not recursion: a fast client would grow the stack
    } else {
      reader.close();
      ctx.close();
    }
  }

  /**
   * A region of the download's shared file that leaves the file open when released: the reader owns it.
   * A {@link DefaultFileRegion} still, so the epoll transport sends it with {@code sendfile}.
   */
  private static final class SharedFileRegion extends DefaultFileRegion {
    SharedFileRegion(java.nio.channels.FileChannel file, long position, long count) {
      super(file, position, count);
    }

    @Override
    protected void deallocate() {
      // the reader closes the file; one region is in flight at a time, and the reader waits for it
    }
  }

  private void cut() {
    reader.close();
    ctx.close();
  }
}
