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
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * One response read from a {@link NettyHttp} connection: its head completes {@link #head}, its content is queued
 * for the blocking reader ({@link QueuedBody}). The event loop only queues buffers; it asks the socket for more
 * while fewer than {@value #HIGH} wait, so memory per download stays bounded (at most about 1 MiB) however slow
 * the reader. A response read to its end hands the connection back for reuse; one abandoned or broken closes it.
 */
final class NettyBody extends QueuedBody<ByteBuf> {
  private static final int HIGH = 16;

  private final Channel channel;
  private final Consumer<Channel> reusable;
  private final CompletableFuture<UpstreamHttp.Reply> head = new CompletableFuture<>();
  private volatile boolean ended;

  NettyBody(Channel channel, Duration idle, Consumer<Channel> reusable) {
    super(idle);
    this.channel = channel;
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
          if (c.content().isReadable()) {
            offer(c.content().retain());
          }
          if (msg instanceof LastHttpContent) {
            ended = true;
            ctx.pipeline().remove(this);
            // Back in the pool before the reader sees the end: its next request to the origin finds it there.
            if (keepAlive && !closed()) {
              reusable.accept(ctx.channel());
            } else {
              ctx.close();
            }
            end();
          }
        }
        ReferenceCountUtil.release(msg);
      }

      @Override
      public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!ended && !closed() && waiting() < HIGH) {
          ctx.read();
        }
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        broken(new IOException("upstream closed the connection before the response ended"));
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        broken(cause);
        ctx.close();
      }
    };
  }

  /** The request could not be sent or the connection broke: whoever waits gets the error. */
  void broken(Throwable cause) {
    if (ended) {
      return;
    }
    ended = true;
    IOException e = asIOException(cause);
    head.completeExceptionally(e);
    fail(e);
    channel.close();
  }

  @Override
  protected int remaining(ByteBuf chunk) {
    return chunk.readableBytes();
  }

  @Override
  protected void copy(ByteBuf chunk, byte[] b, int off, int n) {
    chunk.readBytes(b, off, n);
  }

  @Override
  protected void taken(int waiting) {
    if (!ended && waiting < HIGH / 2) {
      channel.read(); // the reader caught up: ask for more (the event loop stops asking at HIGH)
    }
  }

  @Override
  protected void release(ByteBuf chunk) {
    chunk.release();
  }

  @Override
  protected void cancel() {
    if (!ended) {
      channel.close(); // the rest of the body is unread: the connection cannot carry another request
    }
  }
}
