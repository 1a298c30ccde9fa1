package io.squashproxy.proxy.app;

import com.github.benmanes.caffeine.cache.Ticker;
import io.micrometer.core.instrument.FunctionCounter;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.WasteSlack;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.squashproxy.proxy.admin.AdminHandler;
import io.squashproxy.proxy.admin.AdminInitializer;
import io.squashproxy.proxy.admin.ProxyMeters;
import io.squashproxy.proxy.admin.StatusPage;
import io.squashproxy.proxy.service.SquashAhead;
import io.squashproxy.proxy.auth.AccessControl;
import io.squashproxy.proxy.auth.ContentLinks;
import io.squashproxy.proxy.server.ProxyInitializer;
import io.squashproxy.proxy.server.RequestMetrics;
import io.squashproxy.proxy.server.ProxyServer;
import io.squashproxy.proxy.server.RegistryHandler;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.RefusedImages;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.SquashLimits;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.LayerIndexFiles;
import io.squashproxy.proxy.store.LinkStore;
import io.squashproxy.proxy.store.ObjectStore;
import io.squashproxy.proxy.store.SquashLeases;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.store.TieredStorage;
import io.squashproxy.proxy.store.s3.S3ObjectStore;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.JibUpstream;
import io.squashproxy.proxy.upstream.Retrier;
import io.squashproxy.proxy.upstream.RetryPolicy;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/** The running proxy: stores, service, executors and listeners, assembled from a {@link ProxyConfig}. */
public final class SquashProxy implements AutoCloseable {
  private final ExecutorService io;
  private final ExecutorService squashPool;
  private final Upstreams upstreams;
  private final ImageService service;
  private final Storage store;
  private final ProxyServer server;
  private final ProxyServer admin;
  /** Null for an open proxy (no {@code auth} config). */
  private AccessControl access;
  private final ObjectStore shared;

  private SquashProxy(ExecutorService io, ExecutorService squashPool, Upstreams upstreams, ImageService service,
      Storage store, ProxyServer server, ProxyServer admin, ObjectStore shared) {
    this.shared = shared;
    this.io = io;
    this.squashPool = squashPool;
    this.upstreams = upstreams;
    this.service = service;
    this.store = store;
    this.server = server;
    this.admin = admin;
  }

  public static SquashProxy start(ProxyConfig config) throws IOException, InterruptedException {
    return start(config, null, Ticker.systemTicker());
  }

  /**
   * @param upstreamFactory null for real upstreams (Jib); tests pass in-memory registries
   */
  public static SquashProxy start(ProxyConfig config, Function<UpstreamSettings, Upstream> upstreamFactory,
      Ticker ticker) throws IOException, InterruptedException {
    ExecutorService io = pool("squash-io", 64, false);
    // Squashes yield the CPU to pulls in progress (see BackgroundPriority).
    ExecutorService squashPool = pool("squash-worker", config.limits().concurrentSquashes(), true);
    PrometheusMeterRegistry meters = ProxyMeters.create();
    AtomicBoolean ready = new AtomicBoolean();
    AtomicReference<StatusPage> page = new AtomicReference<>();
    AtomicReference<SquashAhead> ahead = new AtomicReference<>();
    ProxyConfig.Notifications notifications = config.admin().notifications();
    ProxyServer admin = null;
    ObjectStore shared = null;
    try {
      // The admin listener comes up first, so /healthz answers and /readyz says "not yet" while the cache
      // index loads.
      try {
        admin = ProxyServer.start(HostPort.parse(config.admin().listen()),
            new AdminInitializer(() -> new AdminHandler(meters, ready::get, io, () -> page.get() == null
                ? "<!DOCTYPE html><title>Squash Proxy</title><p>Loading the cache index&hellip;</p>"
                : page.get().render(), ahead::get, notifications == null ? null : notifications.secret())), 1);
      } catch (IOException e) {
        throw StartupErrors.listener("admin", config.admin().listen(), "admin.listen or --admin-listen", e);
      }
      Path dir = config.cache().directory();
      ContentStore local;
      try {
        if (java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir)) {
          throw new java.nio.file.FileAlreadyExistsException(dir.toString());
        }
        local = new ContentStore(dir, config.cache().maxSize().bytes(), config.cache().memoryEntries(),
            config.cache().minFreeSpace()::of, io);
        local.open();
      } catch (IOException | java.io.UncheckedIOException e) {
        throw StartupErrors.path("cache directory", dir, "cache.directory or --cache-dir",
            e instanceof java.io.UncheckedIOException u ? u.getCause() : e);
      }
      shared = sharedStore(config.storage().s3());
      // With a shared store the local directory is a bounded read-through tier in front of it.
      Storage store = shared == null ? local : new TieredStorage(local, shared);
      TagStore tags = new TagStore(dir, local.tmpDir(), config.cache().tagTtl(), ticker, shared,
          System::currentTimeMillis);
      tags.open();
      SquashRecords records = new SquashRecords(dir, local.tmpDir(), shared);
      records.open();
      SquashLeases leases = shared == null ? SquashLeases.none()
          : SquashLeases.over(shared, config.storage().s3().lease());
      ProxyMeters.bindCache(meters, local);
      Rules rules = rules(config);
      List<UpstreamSettings> settings = config.upstreams().stream().map(u -> settings(u, config)).toList();
      ProxyStats stats = new ProxyStats(meters);
      Upstreams upstreams = new Upstreams(settings, rules,
          upstreamFactory != null ? upstreamFactory : s -> jibUpstream(s, stats));
      // Layer indexes take at most a fiftieth of the cache (a few percent of a layer's size each, usually far less).
      LayerIndexFiles indexes = new LayerIndexFiles(dir, local.tmpDir(),
          Math.max(16L << 20, config.cache().maxSize().bytes() / 50), io).open();
      local.onEvicted(indexes::layerEvicted);
      FunctionCounter.builder("squash_proxy_layer_index_hits", indexes,
          LayerIndexFiles::hits).description("layers a squash took from their index instead of reading them")
          .register(meters);
      FunctionCounter.builder("squash_proxy_layer_index_misses", indexes,
          LayerIndexFiles::misses).description("layers a squash had to read and index").register(meters);
      ImageService service = new ImageService(upstreams, store, tags, records, leases, indexes, io, squashPool,
          SquashLimits.of(config.limits().maxImageSize().bytes(), config.limits().maxPathsPerSquash()), stats,
          new RefusedImages(ticker));
      page.set(new StatusPage(records, tags, store, stats, service.refused(), service.backgroundSquashes()));
      if (notifications != null) {
        ahead.set(new SquashAhead(service, upstreams, notifications.queue(), meters));
      }
      SslContext ssl = sslContext(config);
      int idle = (int) Math.max(1, config.limits().idleTimeout().toSeconds());
      RequestMetrics requestMetrics = new RequestMetrics(meters, config.logging().accessLog());
      AccessControl access = accessControl(config, upstreams, records, shared, io, ticker);
      if (access != null) {
        access.withMetrics(requestMetrics);
      }
      ProxyInitializer init = new ProxyInitializer(ssl, idle,
          () -> new RegistryHandler(service, upstreams, io, ssl == null, requestMetrics),
          access == null ? null : () -> access.newHandler(ssl != null));
      ProxyServer server;
      try {
        server = ProxyServer.start(HostPort.parse(config.listen()), init,
            Math.max(2, Runtime.getRuntime().availableProcessors()));
      } catch (IOException | InterruptedException | RuntimeException e) {
        if (access != null) {
          access.close();
        }
        if (e instanceof IOException bind) {
          throw StartupErrors.listener("registry", config.listen(), "listen or --listen", bind);
        }
        throw e;
      }
      ready.set(true);
      SquashProxy proxy = new SquashProxy(io, squashPool, upstreams, service, store, server, admin, shared);
      proxy.access = access;
      return proxy;
    } catch (IOException | InterruptedException | RuntimeException e) {
      if (admin != null) {
        admin.close();
      }
      if (shared != null) {
        shared.close();
      }
      io.shutdownNow();
      squashPool.shutdownNow();
      throw e;
    }
  }

  public InetSocketAddress adminAddress() {
    return admin.address();
  }

  public InetSocketAddress address() {
    return server.address();
  }

  public ImageService service() {
    return service;
  }

  /** The local disk store (the local tier when a shared store is configured). */
  public ContentStore store() {
    return store.local();
  }

  public Storage storage() {
    return store;
  }

  /** The {@code auth} section as a running access control, or null without one. */
  private static AccessControl accessControl(ProxyConfig config, Upstreams upstreams, SquashRecords records,
      ObjectStore shared, ExecutorService io, Ticker ticker) throws IOException {
    if (config.auth() == null) {
      return null;
    }
    ContentLinks.Origins origins = d -> records.byManifest(d).or(() -> records.byBlob(d))
        .map(r -> new ContentLinks.Origin(r.upstream(), r.repository(), r.source()));
    readable("htpasswd file", config.auth().htpasswd(), "auth.htpasswd");
    LinkStore links = new LinkStore(config.cache().directory(), shared, AccessControl.MAX_LINKS);
    return AccessControl.create(config.auth(), upstreams, origins, links, io, ticker, java.time.Clock.systemUTC());
  }

  @Override
  public void close() throws IOException {
    server.close();
    if (access != null) {
      access.close();
    }
    admin.close();
    io.shutdownNow();
    squashPool.shutdownNow();
    upstreams.close();
    if (shared != null) {
      shared.close();
    }
  }

  /** The shared bucket of {@code storage.s3}, checked reachable; null without one. */
  static ObjectStore sharedStore(ProxyConfig.S3 s3) throws IOException {
    if (s3 == null) {
      return null;
    }
    S3ObjectStore store = S3ObjectStore.create(new S3ObjectStore.Settings(s3.bucket(), s3.prefix(),
        s3.endpoint() == null ? null : URI.create(s3.endpoint()), s3.region(), s3.pathStyle(), s3.accessKeyId(),
        s3.secretAccessKey(), s3.partSize().bytes()));
    try {
      store.check();
      // Parts of uploads a crashed replica left: a day is far longer than any upload runs.
      int aborted = store.abortUploadsOlderThan(java.time.Instant.now().minus(java.time.Duration.ofDays(1)));
      if (aborted > 0) {
        org.slf4j.LoggerFactory.getLogger(SquashProxy.class).info("aborted {} unfinished uploads in {}", aborted,
            store.describe());
      }
      return store;
    } catch (IOException | RuntimeException e) {
      store.close();
      throw e;
    }
  }

  static Rules rules(ProxyConfig config) {
    return new Rules(config.squash().rules().stream().map(r -> new SquashRule(r.match(),
        SquashRule.Mode.valueOf((r.mode() == null ? ProxyConfig.DEFAULT_MODE : r.mode()).toUpperCase(Locale.ROOT)),
        r.keep() == null ? 0 : r.keep(), r.base(),
        compression(r), r.platforms(), slack(r), r.squashWait(),
        r.estargz() == null ? null : r.estargz().prioritize())).toList());
  }

  private static Compression compression(ProxyConfig.Rule r) {
    Compression c = r.compression() == null ? Compression.GZIP : Compression.parse(r.compression());
    if (c.algorithm() == Compression.Algorithm.ESTARGZ && r.estargz() != null && r.estargz().chunkSize() != null) {
      c = c.withChunkSize(Math.toIntExact(r.estargz().chunkSize().bytes()));
    }
    return c;
  }

  private static WasteSlack slack(ProxyConfig.Rule r) {
    return new WasteSlack(
        (r.wasteSlack() == null ? ProxyConfig.DEFAULT_WASTE_SLACK : r.wasteSlack()).bytes(),
        r.wasteSlackPercent() == null ? ProxyConfig.DEFAULT_WASTE_SLACK_PERCENT : r.wasteSlackPercent());
  }

  static UpstreamSettings settings(ProxyConfig.Upstream u, ProxyConfig config) {
    return new UpstreamSettings(u.name(), URI.create(u.url()), u.prefix(), Boolean.TRUE.equals(u.dockerHub()),
        u.username(), u.password(), u.credentialHelper(), config.limits().connectTimeout(),
        config.limits().requestTimeout(), config.limits().upstreamIdleTimeout(), retryPolicy(config));
  }

  static RetryPolicy retryPolicy(ProxyConfig config) {
    ProxyConfig.Retry r = config.limits().retry();
    return new RetryPolicy(r.attempts(), r.baseDelay(), r.maxDelay(), r.jitter(), r.maxRetryAfter());
  }

  /** The configured upstreams with real clients, for commands that read images without serving them. */
  public static Upstreams upstreams(ProxyConfig config) {
    ProxyStats stats = new ProxyStats();
    return new Upstreams(config.upstreams().stream().map(u -> settings(u, config)).toList(), rules(config),
        s -> jibUpstream(s, stats));
  }

  /** A real upstream whose retries are counted in {@code squash_proxy_upstream_retries_total}. */
  private static Upstream jibUpstream(UpstreamSettings s, ProxyStats stats) {
    return new JibUpstream(s, Retrier.of(s.retry(), reason -> stats.upstreamRetry(s.name(), reason)));
  }

  private static SslContext sslContext(ProxyConfig config) throws IOException {
    if (config.tls() == null || config.tls().cert() == null) {
      return null;
    }
    java.io.File cert = config.tls().cert().toFile();
    java.io.File key = config.tls().key().toFile();
    readable("TLS certificate", config.tls().cert(), "tls.cert");
    readable("TLS key", config.tls().key(), "tls.key");
    TlsKeyCheck.requireMatch(cert.toPath(), key.toPath());
    try {
      return SslContextBuilder.forServer(cert, key).build();
    } catch (IllegalArgumentException | javax.net.ssl.SSLException e) {
      // Without BouncyCastle, Netty reads PKCS#8 keys only; traditional "BEGIN RSA/EC PRIVATE KEY" files fail.
      throw new IOException("tls: cannot use " + cert + " with " + key + " (" + e.getMessage() + "). The key must "
          + "be an unencrypted PKCS#8 PEM ('BEGIN PRIVATE KEY'); convert one with "
          + "'openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8' and the certificate must be a PEM chain", e);
    }
  }

  /** Fails naming the file and its key unless {@code file} can be read (a directory cannot). */
  private static void readable(String what, Path file, String setBy) throws IOException {
    try (var in = java.nio.file.Files.newInputStream(file)) {
      in.read();
    } catch (IOException e) {
      throw StartupErrors.path(what, file, setBy, e);
    }
  }

  /**
   * @param background squash workers: their threads run at a lower CPU priority ({@link BackgroundPriority}),
   *     which Linux passes on to every thread they start. Other pools start all their threads here, on the
   *     main thread, and keep them, so that no serving thread is ever started by a squash worker.
   */
  private static ExecutorService pool(String name, int threads, boolean background) {
    ThreadPoolExecutor e = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(100_000), r -> {
          Thread t = new Thread(background ? BackgroundPriority.lowered(r) : r, name);
          t.setDaemon(true);
          return t;
        });
    if (background) {
      e.allowCoreThreadTimeOut(true);
    } else {
      e.prestartAllCoreThreads();
    }
    return e;
  }
}
