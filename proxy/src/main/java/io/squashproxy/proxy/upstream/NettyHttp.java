package io.squashproxy.proxy.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * {@link UpstreamHttp} on Netty, for blob GETs: the bytes go from the socket into pooled buffers and from there to
 * the reader ({@link NettyBody}) without the JDK client's hand-offs per 16 KiB, several times its throughput here
 * (a cold pull streams at the speed of this download). Keep-alive connections are reused per origin. Reads from
 * the socket are asked for only while few buffers wait for the reader, so a slow cache write slows the upstream,
 * never fills the heap.
 */
final class NettyHttp implements UpstreamHttp {
  /** Upstream sockets of every upstream: few threads suffice, they only move buffers. */
  private static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(2,
      new DefaultThreadFactory("upstream-io", true), NioIoHandler.newFactory());
  /** Signed CDN redirects carry long headers; Netty's default of 8 KiB is not enough for some. */
  private static final int MAX_HEADER_BYTES = 64 * 1024;
  private static final int MAX_IDLE_PER_ORIGIN = 8;

  private final Duration connectTimeout;
  private final Duration requestTimeout;
  private final Duration idleTimeout;
  private final SslContext tls;
  private final Map<String, Deque<Channel>> idle = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /** Trusts what the JDK trusts ({@code javax.net.ssl.trustStore}, else its cacerts), as the JDK client does. */
  NettyHttp(UpstreamSettings settings) {
    this(settings, defaultTls());
  }

  /** @param tls the client context (tests trust their own CA) */
  NettyHttp(UpstreamSettings settings, SslContext tls) {
    this.connectTimeout = settings.connectTimeout();
    this.requestTimeout = settings.requestTimeout();
    this.idleTimeout = settings.idleTimeout();
    this.tls = tls;
  }

  private static SslContext defaultTls() {
    try {
      return SslContextBuilder.forClient().build();
    } catch (SSLException e) {
      throw new IllegalStateException("no TLS client context: " + e.getMessage(), e);
    }
  }

  @Override
  public Reply send(String method, URI uri, Map<String, String> headers) throws IOException {
    if (!"GET".equals(method)) {
      throw new IllegalArgumentException("NettyHttp sends GETs only, not " + method);
    }
    String origin = origin(uri);
    Channel reused = pooled(origin);
    if (reused != null) {
      try {
        return exchange(reused, origin, uri, headers);
      } catch (HttpTimeoutException e) {
        throw e;
      } catch (IOException e) {
        // The server closed the idle connection as we reused it (keep-alive race): once more on a new one.
      }
    }
    return exchange(connect(uri), origin, uri, headers);
  }

  private Reply exchange(Channel ch, String origin, URI uri, Map<String, String> headers) throws IOException {
    NettyBody body = new NettyBody(ch, idleTimeout, reusable -> release(origin, reusable));
    ch.pipeline().addLast("body", body.handler());
    DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
        uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()));
    req.headers().set(HttpHeaderNames.HOST, uri.getPort() < 0 ? uri.getHost() : uri.getHost() + ":" + uri.getPort());
    headers.forEach((k, v) -> req.headers().set(k, v));
    ch.writeAndFlush(req).addListener(f -> {
      if (!f.isSuccess()) {
        body.broken(f.cause());
      }
    });
    ch.read();
    try {
      return body.head().get(requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      body.close();
      throw new HttpTimeoutException("no response headers within " + requestTimeout.toMillis() + " ms");
    } catch (ExecutionException e) {
      body.close();
      throw QueuedBody.asIOException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      body.close();
      throw new IOException("interrupted", e);
    }
  }

  private Channel pooled(String origin) {
    Deque<Channel> q = idle.get(origin);
    for (Channel ch = q == null ? null : q.pollFirst(); ch != null; ch = q.pollFirst()) {
      if (ch.isActive()) {
        return ch;
      }
    }
    return null;
  }

  /** A connection whose response was read to its end: kept for the next request to its origin, or closed. */
  private void release(String origin, Channel ch) {
    Deque<Channel> q = idle.computeIfAbsent(origin, k -> new ConcurrentLinkedDeque<>());
    if (closed || !ch.isActive() || q.size() >= MAX_IDLE_PER_ORIGIN) {
      ch.close();
      return;
    }
    q.addFirst(ch);
  }

  private Channel connect(URI uri) throws IOException {
    boolean https = "https".equalsIgnoreCase(uri.getScheme());
    String host = uri.getHost();
    int port = uri.getPort() > 0 ? uri.getPort() : https ? 443 : 80;
    Bootstrap b = new Bootstrap().group(GROUP).channel(NioSocketChannel.class)
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()))
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (https) {
              SslHandler ssl = tls.newHandler(ch.alloc(), host, port);
              SSLParameters p = ssl.engine().getSSLParameters();
              p.setEndpointIdentificationAlgorithm("HTTPS");
              ssl.engine().setSSLParameters(p);
              ch.pipeline().addLast("tls", ssl);
            }
            ch.pipeline().addLast("http", new HttpClientCodec(4096, MAX_HEADER_BYTES, 64 * 1024));
          }
        });
    ChannelFuture f = b.connect(host, port);
    try {
      if (!f.await(connectTimeout.toMillis() + 1000, TimeUnit.MILLISECONDS)) {
        f.cancel(false);
        throw new HttpTimeoutException("connect to " + host + ":" + port + " timed out");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      f.cancel(false);
      throw new IOException("interrupted", e);
    }
    if (!f.isSuccess()) {
      throw QueuedBody.asIOException(f.cause());
    }
    Channel ch = f.channel();
    SslHandler ssl = ch.pipeline().get(SslHandler.class);
    if (ssl != null) {
      ch.read(); // the handshake needs reads while auto-read is off
      try {
        if (!ssl.handshakeFuture().await(requestTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
          ch.close();
          throw new HttpTimeoutException("TLS handshake with " + host + ":" + port + " timed out");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        ch.close();
        throw new IOException("interrupted", e);
      }
      if (!ssl.handshakeFuture().isSuccess()) {
        ch.close();
        throw QueuedBody.asIOException(ssl.handshakeFuture().cause());
      }
    }
    return ch;
  }

  private static String origin(URI uri) {
    return uri.getScheme().toLowerCase(java.util.Locale.ROOT) + "://" + uri.getHost().toLowerCase(java.util.Locale.ROOT)
        + ":" + uri.getPort();
  }

  @Override
  public void close() {
    closed = true;
    idle.values().forEach(q -> q.forEach(Channel::close));
    idle.clear();
  }
}
