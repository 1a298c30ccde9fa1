package io.squashproxy.proxy.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * A Netty listener: binds, reports the bound address, stops. On Linux it uses the native epoll transport
 * (fewer syscalls and copies per request than NIO; {@code -Dio.netty.transport.noNative=true} turns it
 * off), elsewhere NIO.
 */
public final class ProxyServer implements AutoCloseable {
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final Channel channel;

  private ProxyServer(EventLoopGroup boss, EventLoopGroup workers, Channel channel) {
    this.boss = boss;
    this.workers = workers;
    this.channel = channel;
  }

  /**
   * @throws IOException when the address cannot be bound (taken, not local, a privileged port), with the
   *     transport's own text; callers name the listener and its setting
   */
  public static ProxyServer start(InetSocketAddress address, ChannelInitializer<SocketChannel> initializer,
      int threads) throws InterruptedException, IOException {
    boolean epoll = Epoll.isAvailable();
    IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, io);
    EventLoopGroup workers = new MultiThreadIoEventLoopGroup(threads, io);
    try {
      Channel ch = new ServerBootstrap()
          .group(boss, workers)
          .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
          .option(ChannelOption.SO_BACKLOG, 1024)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(initializer)
          .bind(address).sync().channel();
      return new ProxyServer(boss, workers, ch);
    } catch (Exception e) {
      boss.shutdownGracefully();
      workers.shutdownGracefully();
      // sync() rethrows the bind failure as it is: an IOException the signature does not declare.
      if (e instanceof IOException | e instanceof InterruptedException | e instanceof RuntimeException) {
        throw e;
      }
      throw new IOException(e);
    }
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    boss.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }
}
