package io.squashproxy.proxy.upstream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.ResourceLeakDetector;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Netty client of blob GETs against a small Netty server: whole bodies over plain HTTP and TLS (the name
 * checked against the certificate), keep-alive connections reused, and one the server closed replaced without
 * the caller noticing.
 */
class NettyHttpTest {
  private static final byte[] BLOB = new byte[3 << 20];

  @TempDir
  static Path certs;

  private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final AtomicInteger connections = new AtomicInteger();
  private NettyHttp client;

  @BeforeAll
  static void blobAndCertificate() throws Exception {
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    new Random(3).nextBytes(BLOB);
    // Certificates made with openssl (on every machine the e2e tests run on): one for this host, one not.
    certificate("localhost", "DNS:localhost,IP:127.0.0.1", "");
    certificate("other.example", "DNS:other.example", "other-");
  }

  private static void certificate(String cn, String names, String prefix) throws Exception {
    Process p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + names,
        "-keyout", certs.resolve(prefix + "key.pem").toString(), "-out", certs.resolve(prefix + "cert.pem").toString())
        .redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertEquals(0, p.waitFor(), new String(out));
  }

  @AfterEach
  void stop() throws Exception {
    if (client != null) {
      client.close();
    }
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
  }

  @Test
  void aBlobComesWholeOverTlsAndTheConnectionIsReused() throws Exception {
    int port = serve(SslContextBuilder.forServer(certs.resolve("cert.pem").toFile(),
        certs.resolve("key.pem").toFile()).build(), false);
    client = new NettyHttp(UpstreamSettings.of("t", "https://localhost:" + port), trusting());
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(BLOB, get("https://localhost:" + port + "/v2/a/blobs/x"));
    }
    assertEquals(1, connections.get(), "one keep-alive connection for three GETs");
  }

  @Test
  void aCertificateThatDoesNotNameTheHostIsRefused() throws Exception {
    int port = serve(SslContextBuilder.forServer(certs.resolve("other-cert.pem").toFile(),
        certs.resolve("other-key.pem").toFile()).build(), false);
    // Trusted, but issued to another name.
    client = new NettyHttp(UpstreamSettings.of("t", "https://localhost:" + port),
        SslContextBuilder.forClient().trustManager(certs.resolve("other-cert.pem").toFile()).build());
    IOException e = assertThrows(IOException.class, () -> get("https://localhost:" + port + "/v2/a/blobs/x"));
    assertTrue(String.valueOf(e).contains("SSL") || String.valueOf(e.getCause()).contains("Certificate"),
        String.valueOf(e));
  }

  @Test
  void aKeepAliveConnectionTheServerDroppedIsReplacedUnnoticed() throws Exception {
    int port = serve(null, true);
    client = new NettyHttp(UpstreamSettings.of("t", "http://127.0.0.1:" + port), null);
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(BLOB, get("http://127.0.0.1:" + port + "/v2/a/blobs/x"));
      Thread.sleep(50); // the server's close reaches us (or not yet: then the reuse fails and is replaced)
    }
    assertEquals(3, connections.get());
  }

  private byte[] get(String url) throws IOException {
    UpstreamHttp.Reply r = client.send("GET", URI.create(url), Map.of("User-Agent", "test"));
    assertEquals(200, r.status());
    assertEquals(BLOB.length, r.contentLength());
    try (InputStream in = r.body()) {
      return in.readAllBytes();
    }
  }

  private SslContext trusting() throws Exception {
    return SslContextBuilder.forClient().trustManager(certs.resolve("cert.pem").toFile()).build();
  }

  /** @param closeAfterEach answer with keep-alive headers, then close anyway (a server's idle timeout) */
  private int serve(SslContext tls, boolean closeAfterEach) throws InterruptedException {
    Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            connections.incrementAndGet();
            if (tls != null) {
              ch.pipeline().addLast(tls.newHandler(ch.alloc()));
            }
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                new SimpleChannelInboundHandler<FullHttpRequest>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                    DefaultFullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                        HttpResponseStatus.OK, Unpooled.wrappedBuffer(BLOB));
                    resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, BLOB.length);
                    var f = ctx.writeAndFlush(resp);
                    if (closeAfterEach) {
                      f.addListener(ChannelFutureListener.CLOSE);
                    }
                  }
                });
          }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    return ((InetSocketAddress) server.localAddress()).getPort();
  }
}
