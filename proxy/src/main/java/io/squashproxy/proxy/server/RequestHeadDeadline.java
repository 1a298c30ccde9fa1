package io.squashproxy.proxy.server;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A request head must arrive whole within the idle timeout of the connection becoming ready for one (opened,
 * or its last response written). The idle handler alone misses a client that trickles a byte now and then
 * and never finishes its headers (slowloris), holding a connection forever. A connection with a request in
 * flight has no deadline (squashes take minutes).
 */
final class RequestHeadDeadline extends ChannelDuplexHandler {
  private final long nanos;
  private long heads;
  private long answered;
  private ScheduledFuture<?> timer;

  RequestHeadDeadline(long seconds) {
    this.nanos = TimeUnit.SECONDS.toNanos(seconds);
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    arm(ctx);
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest) {
      heads++;
      disarm();
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    boolean interim = msg instanceof HttpResponse r && r.status().code() == 100;
    if (!interim && (msg instanceof LastHttpContent || msg instanceof HttpChunkedInput)) {
      ChannelPromise p = promise.unvoid();
      p.addListener(f -> {
        answered++;
        if (answered >= heads && ctx.channel().isActive()) {
          arm(ctx);
        }
      });
      ctx.write(msg, p);
      return;
    }
    ctx.write(msg, promise);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    disarm();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    disarm();
  }

  private void arm(ChannelHandlerContext ctx) {
    disarm();
    timer = ctx.executor().schedule(() -> {
      ctx.close();
    }, nanos, TimeUnit.NANOSECONDS);
  }

  private void disarm() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }
}
