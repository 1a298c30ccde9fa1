package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.upstream.UpstreamSettings;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class UpstreamsTest {
  static final Rules RULES = new Rules(List.of(
      new SquashRule("library/debian", SquashRule.Mode.OFF, 0, null, Compression.GZIP, List.of()),
      new SquashRule("ghcr.io/**", SquashRule.Mode.KEEP, 2, null, Compression.ZSTD, List.of()),
      new SquashRule("library/*", SquashRule.Mode.ALL, 0, null, Compression.GZIP, List.of())));

  static Upstreams upstreams() {
    List<UpstreamSettings> settings = List.of(
        new UpstreamSettings("hub", URI.create("https://registry-1.docker.io"), null, true, null, null, null, null,
            null),
        new UpstreamSettings("ghcr", URI.create("https://ghcr.io"), "ghcr.io", false, null, null, null, null, null),
        new UpstreamSettings("local", URI.create("http://127.0.0.1:5000"), "127.0.0.1:5000", false, null, null,
            null, null, null));
    return new Upstreams(settings, RULES, s -> new InMemoryRegistry(s.name()));
  }

  @ParameterizedTest(name = "{0} ns={1} -> {2} {3} {4}")
  @CsvSource(nullValues = "-", value = {
      "nginx, -, hub, library/nginx, ALL",
      "library/debian, -, hub, library/debian, OFF",
      "bitnami/redis, -, hub, bitnami/redis, AUTO",
      "ghcr.io/owner/img, -, ghcr, owner/img, KEEP",
      "127.0.0.1:5000/team/app, -, local, team/app, AUTO",
      "owner/img, ghcr.io, ghcr, owner/img, KEEP",
      "nginx, docker.io, hub, library/nginx, ALL",
      "library/nginx, registry-1.docker.io, hub, library/nginx, ALL",
  })
  void routesByPrefixNamespaceOrDefault(String name, String ns, String upstream, String repository,
      SquashRule.Mode mode) {
    Route r = upstreams().resolve(name, ns);
    assertEquals(upstream, r.upstream().name());
    assertEquals(repository, r.repository());
    assertEquals(name, r.clientName());
    assertEquals(mode, r.rule().mode());
  }

  @ParameterizedTest
  @CsvSource(nullValues = "-", value = {"quay.io/org/img, -", "img, quay.io"})
  void unknownRegistriesAreNameUnknown(String name, String ns) {
    RegistryException e = assertThrows(RegistryException.class, () -> upstreams().resolve(name, ns));
    assertEquals(ErrorCode.NAME_UNKNOWN, e.code());
  }
}
