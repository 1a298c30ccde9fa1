package io.squashproxy.proxy.service;

import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.upstream.JibUpstream;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Resolves client names to upstreams: by containerd's {@code ns} query parameter, by a first name
 * component that is a configured prefix ({@code ghcr.io/owner/img}), or else the default upstream, where
 * Docker Hub gets {@code library/} before one-component names as docker adds it.
 */
public final class Upstreams implements Closeable {
  private static final List<String> DOCKER_HUB_ALIASES = List.of("docker.io", "index.docker.io",
      "registry-1.docker.io", "registry.hub.docker.com");

  private final Upstream defaultUpstream;
  private final UpstreamSettings defaultSettings;
  private final List<Entry> byPrefix;
  private final Rules rules;

  private record Entry(UpstreamSettings settings, Upstream upstream) {}

  public Upstreams(List<UpstreamSettings> settings, Rules rules) {
    this(settings, rules, JibUpstream::new);
  }

  /** With a factory, so tests can put in-memory registries behind the same routing. */
  public Upstreams(List<UpstreamSettings> settings, Rules rules,
      java.util.function.Function<UpstreamSettings, Upstream> factory) {
    if (settings.isEmpty()) {
      throw new IllegalArgumentException("at least one upstream is required");
    }
    this.rules = rules;
    List<Entry> entries = new ArrayList<>();
    Entry def = null;
    for (UpstreamSettings s : settings) {
      Entry e = new Entry(s, factory.apply(s));
      entries.add(e);
      if (s.prefix() == null && def == null) {
        def = e;
      }
    }
    if (def == null) {
      def = entries.get(0);
    }
    this.defaultUpstream = def.upstream;
    this.defaultSettings = def.settings;
    this.byPrefix = List.copyOf(entries);
  }

  public List<Upstream> all() {
    return byPrefix.stream().map(Entry::upstream).toList();
  }

  /**
   * @param name the validated repository name from the URL
   * @param ns containerd's {@code ns} parameter (the registry the client meant), or null
   */
  public Route resolve(String name, String ns) {
    if (ns != null && !ns.isEmpty()) {
      Entry e = find(ns.toLowerCase(Locale.ROOT));
      if (e == null) {
        throw new RegistryException(ErrorCode.NAME_UNKNOWN, "no upstream is configured for registry " + ns);
      }
      return route(e.settings, e.upstream, name, name);
    }
    int slash = name.indexOf('/');
    if (slash > 0 && Names.looksLikeHost(name.substring(0, slash))) {
      String host = name.substring(0, slash);
      Entry e = find(host.toLowerCase(Locale.ROOT));
      if (e == null) {
        throw new RegistryException(ErrorCode.NAME_UNKNOWN, "no upstream is configured for registry " + host);
      }
      return route(e.settings, e.upstream, name, name.substring(slash + 1));
    }
    return route(defaultSettings, defaultUpstream, name, name);
  }

  private Route route(UpstreamSettings s, Upstream u, String clientName, String repo) {
    String repository = s.dockerHub() && !repo.contains("/") ? "library/" + repo : repo;
    String canonical = s.prefix() == null ? repository : s.prefix() + "/" + repository;
    return new Route(u, clientName, canonical, repository, rules.match(canonical));
  }

  private Entry find(String host) {
    boolean hub = DOCKER_HUB_ALIASES.contains(host);
    for (Entry e : byPrefix) {
      UpstreamSettings s = e.settings;
      if (host.equals(s.prefix()) || host.equals(s.registryHost().toLowerCase(Locale.ROOT))
          || (hub && s.dockerHub())) {
        return e;
      }
    }
    return null;
  }

  @Override
  public void close() throws IOException {
    for (Entry e : byPrefix) {
      e.upstream.close();
    }
  }
}
