package io.squashproxy.proxy.server;

import io.netty.channel.ChannelHandlerContext;

/** A response ready to be written on the event loop. */
interface Reply {
  void write(ChannelHandlerContext ctx, boolean keepAlive);
}
