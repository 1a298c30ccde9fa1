package io.squashproxy.proxy.server;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.ReferenceCountUtil;
import io.squashproxy.proxy.registry.ErrorCode;

/**
 * Puts the error responses Netty's HTTP handlers write themselves into the spec's envelope. The aggregator
 * answers a body over {@link ProxyInitializer#MAX_CONTENT} with 413 and an unknown {@code Expect} with 417,
 * each with no body at all; clients print the envelope's message, so they would show nothing. Sits between
 * the codec and the aggregator, so it sees exactly those writes: every response of ours is already in the
 * envelope and passes through unchanged.
 */
final class CodecErrors extends ChannelOutboundHandlerAdapter {

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof FullHttpResponse r && r.status().code() >= 400 && !r.content().isReadable()
        && r.headers().getInt(HttpHeaderNames.CONTENT_LENGTH, 0) == 0) {
      FullHttpResponse enveloped = Responses.error(r.status(), ErrorCode.UNSUPPORTED, message(r.status()), null,
          false);
      if (r.headers().contains(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE, true)) {
        enveloped.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      }
      ReferenceCountUtil.release(r);
      ctx.write(enveloped, promise);
      return;
    }
    ctx.write(msg, promise);
  }

  static String message(HttpResponseStatus status) {
    return switch (status.code()) {
      case 413 -> "request body larger than " + ProxyInitializer.MAX_CONTENT
          + " bytes (this registry is a read-only pull-through proxy: requests carry no body)";
      case 417 -> "unsupported Expect header (only 100-continue is understood)";
      default -> "the request could not be read (" + status + ")";
    };
  }
}
