package io.squashproxy.proxy.server;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.stream.ChunkedWriteHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.function.Supplier;

/** The registry listener's pipeline, one handler per concern. */
public final class ProxyInitializer extends ChannelInitializer<SocketChannel> {
  /** Longest request line and header block we accept (URIs with long names, many Accept values). */
  static final int MAX_INITIAL_LINE = 8192;
  static final int MAX_HEADER_SIZE = 16384;
  /** Pull requests have no body; pushes are refused, so a small aggregate is plenty. */
  static final int MAX_CONTENT = 64 * 1024;

  private final SslContext ssl;
  private final int idleSeconds;
  private final Supplier<RegistryHandler> handlers;
  /** Access control (the {@code auth} config) in front of the registry handler; null for an open proxy. */
  private final Supplier<ChannelHandler> auth;

  public ProxyInitializer(SslContext ssl, int idleSeconds, Supplier<RegistryHandler> handlers) {
    this(ssl, idleSeconds, handlers, null);
  }

  public ProxyInitializer(SslContext ssl, int idleSeconds, Supplier<RegistryHandler> handlers,
      Supplier<ChannelHandler> auth) {
    this.ssl = ssl;
    this.idleSeconds = idleSeconds;
    this.handlers = handlers;
    this.auth = auth;
  }

  /** HTTP/1.1 in, whole requests out; the errors Netty answers on its own in the spec's envelope. */
  static void addHttp(ChannelPipeline p, int idleSeconds) {
    p.addLast("http", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_SIZE, 8192));
    p.addLast("codec-errors", new CodecErrors());
    p.addLast("head-deadline", new RequestHeadDeadline(idleSeconds));
    p.addLast("aggregate", new HttpObjectAggregator(MAX_CONTENT));
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ChannelPipeline p = ch.pipeline();
    p.addLast("idle", new IdleStateHandler(0, 0, idleSeconds));
    if (ssl != null) {
      p.addLast("tls", ssl.newHandler(ch.alloc()));
    }
    addHttp(p, idleSeconds);
    if (ssl != null) {
      // Only TLS streams blobs in chunks; plain HTTP sends them as file regions (RegistryHandler's zeroCopy).
      p.addLast("chunked", new ChunkedWriteHandler());
    }
    // Answers leave in request order, whichever handler (auth or registry) gives them.
    p.addLast("in-order", new InOrderResponses());
    if (auth != null) {
      p.addLast("auth", auth.get());
    }
    p.addLast("registry", handlers.get());
  }
}
