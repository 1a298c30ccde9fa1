package io.squashproxy.proxy.admin;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.ReadTimeoutHandler;
import java.util.function.Supplier;

/** The admin listener's pipeline. */
public final class AdminInitializer extends ChannelInitializer<SocketChannel> {
  private final Supplier<AdminHandler> handlers;

  public AdminInitializer(Supplier<AdminHandler> handlers) {
    this.handlers = handlers;
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ch.pipeline()
        .addLast("timeout", new ReadTimeoutHandler(60))
        .addLast("http", new HttpServerCodec())
        .addLast("aggregate", new HttpObjectAggregator(1 << 20))
        .addLast("admin", handlers.get());
  }
}
