package io.squashproxy.proxy.auth;

import com.github.benmanes.caffeine.cache.Ticker;
import io.netty.channel.ChannelHandler;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.server.RequestMetrics;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Upstreams;
import java.io.Closeable;
import java.io.IOException;
import java.time.Clock;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The proxy's access control, assembled from the {@code auth} config: who the client is (htpasswd Basic
 * credentials, or a bearer token this proxy issued), whether they may pull a repository (the access rules),
 * and whether a digest may be served through a repository ({@link ContentLinks}). One {@link AuthHandler} per
 * connection uses it.
 */
public final class AccessControl implements Closeable {
  private final String realm;
  private final boolean tokenMode;
  private final String tokenRealm;
  private final BasicCredentials basic;
  private final TokenService tokens;
  private final AccessRules rules;
  private final ContentLinks links;
  private final Upstreams upstreams;
  private final ExecutorService bcryptPool;
  private volatile RequestMetrics metrics;

  AccessControl(String realm, boolean tokenMode, String tokenRealm, BasicCredentials basic, TokenService tokens,
      AccessRules rules, ContentLinks links, Upstreams upstreams, ExecutorService bcryptPool) {
    this.realm = realm;
    this.tokenMode = tokenMode;
    this.tokenRealm = tokenRealm;
    this.basic = basic;
    this.tokens = tokens;
    this.rules = rules;
    this.links = links;
    this.upstreams = upstreams;
    this.bcryptPool = bcryptPool;
  }

  /** Repository links kept in memory (and on disk: the log is rewritten past twice this many lines). */
  public static final long MAX_LINKS = 1_000_000;

  /**
   * @param linkStore where repository links outlive a restart and are shared (null: memory only)
   * @param io the pool for upstream confirmations (blocking)
   */
  public static AccessControl create(ProxyConfig.Auth auth, Upstreams upstreams, ContentLinks.Origins origins,
      io.squashproxy.proxy.store.LinkStore linkStore, ExecutorService io, Ticker ticker, Clock clock)
      throws IOException {
    Htpasswd htpasswd = new Htpasswd(auth.htpasswd());
    // bcrypt is CPU work: a small pool of its own, so a burst of logins cannot starve upstream I/O.
    int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(10_000), r -> {
          Thread t = new Thread(r, "squash-bcrypt");
          t.setDaemon(true);
          return t;
        });
    pool.allowCoreThreadTimeOut(true);
    boolean token = "token".equals(auth.mode());
    return new AccessControl(auth.realm(), token, auth.token().realm(),
        new BasicCredentials(htpasswd, pool, ticker),
        new TokenService(auth.token().key(), auth.realm(), auth.token().expiry(), clock),
        AccessRules.from(auth.access()), new ContentLinks(origins, io, MAX_LINKS, linkStore).open(), upstreams,
        pool);
  }

  /** Requests answered here (401, 403, tokens) count in these metrics and the access log too. */
  public AccessControl withMetrics(RequestMetrics metrics) {
    this.metrics = metrics;
    return this;
  }

  RequestMetrics metrics() {
    return metrics;
  }

  /** A handler for one connection; {@code tls} tells the scheme of the token realm derived from Host. */
  public ChannelHandler newHandler(boolean tls) {
    return new AuthHandler(this, tls);
  }

  String realm() {
    return realm;
  }

  boolean tokenMode() {
    return tokenMode;
  }

  /** The configured token realm, or null to derive it from the request. */
  String tokenRealm() {
    return tokenRealm;
  }

  BasicCredentials basic() {
    return basic;
  }

  TokenService tokens() {
    return tokens;
  }

  ContentLinks links() {
    return links;
  }

  /** The route of a client name, or null when no upstream serves it (the registry handler then says so). */
  Route route(String name, String ns) {
    try {
      return upstreams.resolve(name, ns);
    } catch (RegistryException e) {
      return null;
    }
  }

  boolean mayPull(Route route, String name, String user) {
    return rules.mayPull(route == null ? name : route.canonicalName(), user);
  }

  @Override
  public void close() {
    bcryptPool.shutdownNow();
  }
}
