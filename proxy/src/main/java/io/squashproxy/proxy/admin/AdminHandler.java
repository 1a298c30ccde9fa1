package io.squashproxy.proxy.admin;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.squashproxy.proxy.server.Responses;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The admin listener: {@code /} (the status page), {@code /metrics} (Prometheus text format),
 * {@code /healthz} (the process serves) and {@code /readyz} (the cache index is loaded); with
 * {@code admin.notifications}, {@code POST /notifications} and {@code POST /warm} (see
 * {@link SquashAheadEndpoints}).
 */
public final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

  private final PrometheusMeterRegistry registry;
  private final BooleanSupplier ready;
  private final Executor executor;
  private final Supplier<String> statusPage;
  private final SquashAheadEndpoints ahead;

  public AdminHandler(PrometheusMeterRegistry registry, BooleanSupplier ready, Executor executor,
      Supplier<String> statusPage) {
    this(registry, ready, executor, statusPage, () -> null, null);
  }

  /**
   * @param ahead the squash-ahead queue once the service is up (null before)
   * @param secret {@code admin.notifications.secret}; null turns {@code /notifications} and {@code /warm} off
   */
  public AdminHandler(PrometheusMeterRegistry registry, BooleanSupplier ready, Executor executor,
      Supplier<String> statusPage, Supplier<io.squashproxy.proxy.service.SquashAhead> ahead, String secret) {
    this.registry = registry;
    this.ready = ready;
    this.executor = executor;
    this.statusPage = statusPage;
    this.ahead = new SquashAheadEndpoints(ahead, secret);
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    boolean head = req.method().equals(HttpMethod.HEAD);
    String requestPath = new QueryStringDecoder(req.uri()).path();
    if (req.method().equals(HttpMethod.POST) && SquashAheadEndpoints.handles(requestPath)) {
      squashAhead(ctx, req, requestPath, keepAlive);
      return;
    }
    if (!req.method().equals(HttpMethod.GET) && !head) {
      send(ctx, text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed\n", head), keepAlive);
      return;
    }
    String path = new QueryStringDecoder(req.uri()).path();
    switch (path) {
      case "/healthz" -> send(ctx, text(HttpResponseStatus.OK, "ok\n", head), keepAlive);
      case "/readyz" -> send(ctx, ready.getAsBoolean() ? text(HttpResponseStatus.OK, "ready\n", head)
          : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "loading the cache index\n", head), keepAlive);
      case "/metrics" -> render(ctx, registry::scrape, PROMETHEUS_TEXT, head, keepAlive);
      case "/" -> render(ctx, statusPage, "text/html; charset=utf-8", head, keepAlive);
      default -> send(ctx, text(HttpResponseStatus.NOT_FOUND, "not found\n", head), keepAlive);
    }
  }

  private void squashAhead(ChannelHandlerContext ctx, FullHttpRequest req, String path, boolean keepAlive) {
    SquashAheadEndpoints.Answer refused = ahead.refusal(req, path);
    if (refused != null) {
      send(ctx, text(refused.status(), refused.body(), false), keepAlive);
      return;
    }
    byte[] body = new byte[req.content().readableBytes()];
    req.content().getBytes(req.content().readerIndex(), body);
    ctx.channel().config().setAutoRead(false);
    CompletableFuture.supplyAsync(() -> ahead.handle(path, body), executor).whenCompleteAsync((a, err) -> {
      ctx.channel().config().setAutoRead(true);
      send(ctx, err != null ? text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "failed: " + err.getMessage() + "\n",
          false) : text(a.status(), a.body(), false), keepAlive);
    }, ctx.executor());
  }

  /** Builds a body off the event loop (it walks every meter or cache record) and sends it. */
  private void render(ChannelHandlerContext ctx, Supplier<String> body, String contentType, boolean head,
      boolean keepAlive) {
    ctx.channel().config().setAutoRead(false);
    CompletableFuture.supplyAsync(body, executor).whenCompleteAsync((text, err) -> {
      FullHttpResponse r = err != null
          ? text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "failed: " + err.getMessage() + "\n", head)
          : Responses.bytes(HttpResponseStatus.OK, contentType, text.getBytes(StandardCharsets.UTF_8), head);
      ctx.channel().config().setAutoRead(true);
      send(ctx, r, keepAlive);
    }, ctx.executor());
  }

  private static FullHttpResponse text(HttpResponseStatus status, String body, boolean head) {
    return Responses.bytes(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8), head);
  }

  private static void send(ChannelHandlerContext ctx, FullHttpResponse r, boolean keepAlive) {
    HttpUtil.setKeepAlive(r, keepAlive);
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.headers().getInt(HttpHeaderNames.CONTENT_LENGTH, 0));
    var f = ctx.writeAndFlush(r);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
