package io.squashproxy.proxy.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.squashproxy.core.io.SingleByte;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One response read from a {@link NettyHttp} connection: its head completes {@link #head}, its content is queued
 * for the blocking reader. The event loop only queues buffers; it asks the socket for more while fewer than
 * {@value #HIGH} wait, so memory per download stays bounded (a few hundred KiB) however slow the reader.
 * A response read to its end hands the connection back for reuse; one abandoned or broken closes it.
 */
final class NettyBody extends InputStream {
  private static final int HIGH = 16;
  private static final Object END = new Object();

  private final Channel channel;
  private final Duration idle;
  private final Consumer<Channel> reusable;
  private final CompletableFuture<UpstreamHttp.Reply> head = new CompletableFuture<>();
  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private volatile boolean ended;
  private volatile boolean closed;
  private ByteBuf current;
  private boolean sawEnd;

  NettyBody(Channel channel, Duration idle, Consumer<Channel> reusable) {
    this.channel = channel;
    this.idle = idle;
    this.reusable = reusable;
  }

  CompletableFuture<UpstreamHttp.Reply> head() {
    return head;
  }

  /** The pipeline handler feeding this body (removed when the response ends). */
  ChannelInboundHandlerAdapter handler() {
    return new ChannelInboundHandlerAdapter() {
      private boolean keepAlive;

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpResponse r) {
          keepAlive = HttpUtil.isKeepAlive(r);
          head.complete(new UpstreamHttp.Reply(r.status().code(),
              name -> Optional.ofNullable(r.headers().get(name)), NettyBody.this));
        }
        if (msg instanceof HttpContent c) {
          if (c.content().isReadable() && !closed) {
            queue.add(c.content().retain());
          }
          if (msg instanceof LastHttpContent) {
            ended = true;
            queue.add(END);
            ctx.pipeline().remove(this);
            if (keepAlive && !closed) {
              reusable.accept(ctx.channel());
            } else {
              ctx.close();
            }
          }
        }
        ReferenceCountUtil.release(msg);
      }

      @Override
      public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!ended && !closed && queue.size() < HIGH) {
          ctx.read();
        }
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        fail(new IOException("upstream closed the connection before the response ended"));
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail(cause);
        ctx.close();
      }
    };
  }

  /** The request could not be sent or the connection broke: whoever waits gets the error. */
  void fail(Throwable cause) {
    if (ended) {
      return;
    }
    ended = true;
    IOException e = cause instanceof IOException io ? io : new IOException(String.valueOf(cause.getMessage()), cause);
    head.completeExceptionally(e);
    queue.add(e);
    channel.close();
  }

  @Override
  public int read() throws IOException {
    return SingleByte.read(this);
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (closed) {
      throw new IOException("body closed");
    }
    if (len == 0) {
      return 0;
    }
    while (current == null || !current.isReadable()) {
      if (current != null) {
        current.release();
        current = null;
      }
      if (sawEnd) {
        return -1;
      }
      Object next;
      try {
        next = queue.poll(idle.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while reading an upstream body");
      }
      if (next == null) {
        close();
        throw new HttpTimeoutException("upstream sent no body bytes for " + idle.toMillis() + " ms");
      }
      if (next == END) {
        sawEnd = true;
        return -1;
      }
      if (next instanceof IOException e) {
        sawEnd = true;
        throw e;
      }
      current = (ByteBuf) next;
      if (!ended && queue.size() < HIGH / 2) {
        channel.read(); // the reader caught up: ask for more (the event loop stops asking at HIGH)
      }
    }
    int n = Math.min(len, current.readableBytes());
    current.readBytes(b, off, n);
    return n;
  }

  @Override
  public int available() {
    return current == null ? 0 : current.readableBytes();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (!ended) {
      channel.close(); // the rest of the body is unread: the connection cannot carry another request
    }
    if (current != null) {
      current.release();
      current = null;
    }
    // Buffers the event loop queued (also any it queues while closing: it checks closed first).
    channel.eventLoop().execute(this::drain);
    drain();
  }

  private void drain() {
    for (Object o = queue.poll(); o != null; o = queue.poll()) {
      ReferenceCountUtil.release(o);
    }
  }
}
