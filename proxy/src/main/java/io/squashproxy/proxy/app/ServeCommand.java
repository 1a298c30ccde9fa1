package io.squashproxy.proxy.app;

import io.squashproxy.config.ConfigException;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code serve}: runs the pull-through proxy until stopped. Flags override the config file. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Runs the pull-through registry proxy that squashes images on pull.")
public final class ServeCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

  @Spec
  CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML config (default: built-in defaults).")
  Path config;

  @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Registry listener (default 0.0.0.0:5000).")
  String listen;

  @Option(names = "--upstream", paramLabel = "URL",
      description = "The one upstream registry, e.g. http://127.0.0.1:5000 (replaces the config's list).")
  String upstream;

  @Option(names = "--cache-dir", paramLabel = "DIR", description = "Cache directory (default ./data).")
  Path cacheDir;

  @Option(names = "--admin-listen", paramLabel = "HOST:PORT",
      description = "Admin listener for metrics and health (default 127.0.0.1:5001).")
  String adminListen;

  @Option(names = "--squash-wait", paramLabel = "DURATION",
      description = "Sets every squash rule's wait (squash.rules[].wait), e.g. 0s or 10m.")
  String squashWait;

  @Override
  public Integer call() throws Exception {
    ProxyConfig cfg;
    try {
      cfg = config == null ? ProxyConfig.defaults() : ConfigLoader.load(config);
      cfg = overridden(cfg);
    } catch (ConfigException e) {
      spec.commandLine().getErr().println("squash-proxy: " + e.getMessage());
      spec.commandLine().getErr().flush();
      return 1;
    }
    LogSetup.apply(cfg.logging());
    CountDownLatch stopped = new CountDownLatch(1);
    try (SquashProxy proxy = SquashProxy.start(cfg)) {
      LOG.info("squash-proxy listening on {} (upstreams: {}), cache {}, admin on {}", proxy.address(),
          cfg.upstreams().stream().map(u -> u.name() + "=" + u.url()).toList(), cfg.cache().directory(),
          proxy.adminAddress());
      Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown, "shutdown"));
      stopped.await();
      LOG.info("squash-proxy stopping");
    }
    return 0;
  }

  /** The one upstream {@code --upstream URL} names, called after its host and port. */
  public static ProxyConfig.Upstream upstreamFlag(String url) throws ConfigException {
    URI u = URI.create(url);
    if (u.getHost() == null) {
      throw new ConfigException("--upstream: not a URL: " + url);
    }
    return new ProxyConfig.Upstream(u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort()), url, null, null,
        null, null, null);
  }

  private ProxyConfig overridden(ProxyConfig c) throws ConfigException {
    List<ProxyConfig.Upstream> ups = c.upstreams();
    if (upstream != null) {
      ups = List.of(upstreamFlag(upstream));
    }
    ProxyConfig.Cache cache = c.cache();
    if (cacheDir != null) {
      cache = new ProxyConfig.Cache(cacheDir, cache.maxSize(), cache.tagTtl(), cache.memoryEntries(),
          cache.minFreeSpace());
    }
    ProxyConfig.Squash squash = c.squash();
    if (squashWait != null) {
      java.time.Duration wait;
      try {
        wait = io.squashproxy.config.Durations.parse(squashWait);
      } catch (RuntimeException e) {
        throw new ConfigException("--squash-wait: not a duration: " + squashWait);
      }
      squash = new ProxyConfig.Squash(c.withDefaults().squash().rules().stream()
          .map(r -> r.withWait(wait)).toList());
    }
    ProxyConfig out = new ProxyConfig(listen != null ? listen : c.listen(), c.tls(),
        adminListen != null
            ? new ProxyConfig.Admin(adminListen, c.admin() == null ? null : c.admin().notifications()) : c.admin(), ups, cache, squash,
        c.limits(), c.logging(), c.auth(), c.storage()).withDefaults();
    var problems = out.problems();
    if (!problems.isEmpty()) {
      throw new ConfigException(String.join("; ", problems));
    }
    return out;
  }
}
