package io.squashproxy.proxy.server;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * HTTP/1.1 pipelining: responses must leave in the order the requests came. Pausing reads is not enough,
 * because one socket read can hold several requests, which the decoder hands on at once; and the handler
 * answers a bad request at once but a blob or manifest later. This handler passes one request at a time to
 * the next handler and holds the others (and further socket reads) until the response's last part is
 * written.
 */
final class InOrderResponses extends ChannelDuplexHandler {
  private final ArrayDeque<Object> waiting = new ArrayDeque<>();
  private boolean answering;
  private boolean readHeld;

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HttpRequest)) {
      ctx.fireChannelRead(msg);
      return;
    }
    if (answering) {
      waiting.add(msg);
      return;
    }
    answering = true;
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    // FullHttpResponse is a LastHttpContent; a chunked file ends with its last chunk.
    if (msg instanceof LastHttpContent || msg instanceof HttpChunkedInput) {
      ChannelPromise p = promise.unvoid();
      p.addListener(f -> {
        if (f.isSuccess()) {
          next(ctx);
        }
      });
      ctx.write(msg, p);
      return;
    }
    ctx.write(msg, promise);
  }

  private void next(ChannelHandlerContext ctx) {
    answering = false;
    Object request = waiting.poll();
    if (request != null) {
      answering = true;
      ctx.fireChannelRead(request);
    }
    if (waiting.isEmpty() && readHeld) {
      readHeld = false;
      ctx.read();
    }
  }

  @Override
  public void read(ChannelHandlerContext ctx) {
    // Requests already waiting: read no more until they are answered (bounds what a flood can queue).
    if (!waiting.isEmpty()) {
      readHeld = true;
      return;
    }
    ctx.read();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releaseWaiting();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseWaiting();
  }

  private void releaseWaiting() {
    for (Object o = waiting.poll(); o != null; o = waiting.poll()) {
      ReferenceCountUtil.release(o);
    }
  }
}
