package io.squashproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigLoaderTest {

  @ParameterizedTest
  @ValueSource(strings = {"squash-proxy.yaml", "private-registry.yaml", "multi-upstream.yaml",
      "access-control.yaml", "lazy-pull.yaml"})
  void everyShippedSampleLoads(String name) throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of(name), Map.of());
    assertTrue(c.problems().isEmpty());
    assertTrue(!c.upstreams().isEmpty());
  }

  @Test
  void theLazyPullSampleWritesEstargzWithItsChunkSizeAndPrioritizedFiles() throws Exception {
    ProxyConfig.Rule r = ConfigLoader.load(Path.of("lazy-pull.yaml"), Map.of()).squash().rules().get(0);
    assertEquals("estargz:6", r.compression());
    assertEquals(4L << 20, r.estargz().chunkSize().bytes());
    assertEquals(java.util.List.of("/bin/sh"), r.estargz().prioritize());
  }

  @Test
  void theDefaultSampleIsADockerHubMirrorThatSquashesWhatWastesBytes() throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of("squash-proxy.yaml"), Map.of());
    assertEquals(ProxyConfig.DOCKER_HUB_URL, c.upstreams().get(0).url());
    assertTrue(c.upstreams().get(0).dockerHub());
    assertEquals(Path.of("./data"), c.cache().directory());
    assertEquals("**", c.squash().rules().get(0).match());
    assertEquals("auto", c.squash().rules().get(0).mode());
    assertEquals(1L << 20, c.squash().rules().get(0).wasteSlack().bytes());
    assertEquals(1.0, c.squash().rules().get(0).wasteSlackPercent());
    assertEquals(20L << 30, c.cache().maxSize().bytes());
    assertEquals(5.0, c.cache().minFreeSpace().percent());
    assertEquals(50, c.cache().minFreeSpace().of(1000));
    assertEquals(2L << 30, ConfigLoader.parse("cache: {minFreeSpace: 2GiB}", "x.yaml", Map.of()).cache()
        .minFreeSpace().of(1L << 40));
    assertEquals(Duration.ofMinutes(5), c.cache().tagTtl());
    assertEquals(ProxyConfig.DEFAULT_SQUASH_WAIT, c.squash().rules().get(0).squashWait());
  }

  @Test
  void aRuleSetsHowLongTheFirstPullWaitsForItsSquash() throws Exception {
    ProxyConfig c = ConfigLoader.parse("squash:\n  rules:\n    - match: a\n      wait: 90s\n    - match: b\n",
        "x.yaml", Map.of());
    assertEquals(Duration.ofSeconds(90), c.squash().rules().get(0).squashWait());
    assertNull(c.squash().rules().get(1).squashWait(), "absent: the default applies");
    assertTrue(c.problems().isEmpty());
  }

  @Test
  void anEmptyFileIsTheDefaults() throws Exception {
    assertEquals(ProxyConfig.defaults(), ConfigLoader.parse("", "empty.yaml", Map.of()));
  }

  @Test
  void environmentVariablesAreSubstitutedAndEmptyCredentialsMeanNone() throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of("multi-upstream.yaml"), Map.of("DOCKERHUB_TOKEN", "s3cret",
        "DOCKERHUB_USERNAME", "me"));
    assertEquals("me", c.upstreams().get(0).username());
    assertEquals("s3cret", c.upstreams().get(0).password());
    ProxyConfig anonymous = ConfigLoader.load(Path.of("multi-upstream.yaml"), Map.of());
    assertNull(anonymous.upstreams().get(0).username());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "listen: 1.2.3.4:5000\\nbogus: 1                            | x.yaml line 2: bogus: unknown key 'bogus'",
      "cache:\\n  directory: /d\\n  maxSise: 1GiB                 | x.yaml line 3: cache.maxSise: unknown key 'maxSise'",
      "cache:\\n  maxSize: lots                                 | x.yaml line 2: cache.maxSize: invalid size 'lots'",
      "cache:\\n  minFreeSpace: lots                            | x.yaml line 2: cache.minFreeSpace: invalid size 'lots'",
      "cache:\\n  minFreeSpace: 95%                             | x.yaml line 2: cache.minFreeSpace: a share must be between 0% and 90%",
      "cache:\\n  tagTtl: soon                                  | x.yaml line 2: cache.tagTtl: invalid duration 'soon'",
      "limits:\\n  concurrentSquashes: many                      | x.yaml line 2: limits.concurrentSquashes",
      "limits:\\n  maxPathsPerSquash: 0                        | x.yaml line 2: limits.maxPathsPerSquash: must be at least 1",
      "upstreams:\\n  - url: ftp://x                             | x.yaml line 2: upstreams[0].url: must start with http",
      "squash:\\n  rules:\\n    - match: a\\n      mode: keep      | x.yaml line 3: squash.rules[0].keep: mode keep needs keep >= 1",
      "squash:\\n  rules:\\n    - match: a\\n    - match: b\\n      mode: fold | x.yaml line 5: squash.rules[1].mode: must be auto, off, all, keep or base",
      "squash:\\n  rules:\\n    - match: a\\n      mode: all\\n      wasteSlack: 1MiB | x.yaml line 5: squash.rules[0].wasteSlack: only mode auto tolerates waste",
      "squash:\\n  rules:\\n    - match: a\\n      wasteSlackPercent: 150 | x.yaml line 4: squash.rules[0].wasteSlackPercent: must be between 0 and 100",
      "squash:\\n  rules:\\n    - match: a\\n      wasteSlack: -1MiB | x.yaml line 4: squash.rules[0].wasteSlack",
      "squash:\\n  rules:\\n    - match: a\\n      compression: gzip:12 | x.yaml line 4: squash.rules[0].compression: level must be 1..9",
      "squash:\\n  rules:\\n    - match: a\\n      compression: estargz:10 | x.yaml line 4: squash.rules[0].compression: level must be 1..9",
      "squash:\\n  rules:\\n    - match: a\\n      estargz:\\n        chunkSize: 1MiB | x.yaml line 4: squash.rules[0].estargz: only with compression: estargz",
      "squash:\\n  rules:\\n    - match: a\\n      compression: estargz\\n      estargz:\\n        chunkSize: 1KiB | x.yaml line 6: squash.rules[0].estargz.chunkSize: must be between 4KiB and 64MiB",
      "squash:\\n  rules:\\n    - match: a\\n      compression: estargz\\n      estargz:\\n        prioritize: [/bin/sh, ../etc] | x.yaml line 6: squash.rules[0].estargz.prioritize: '../etc' is not a path in the image",
      "cache:\\n  directory: /d\\nlisten: nowhere                | x.yaml line 3: listen: expected HOST:PORT",
      "upstreams:\\n  - url: http://a\\n    password: ${PW}       | x.yaml line 3: environment variable PW is not set",
      "listen: [                                                   | x.yaml line 1",
      "upstreams:\\n  - url: https://me:pw@r.io                 | x.yaml line 2: upstreams[0].url: must not hold credentials",
      "auth:\\n  realm: r                                          | x.yaml line 1: auth.htpasswd: required",
      "auth:\\n  htpasswd: /h\\n  mode: ldap                      | x.yaml line 3: auth.mode: must be basic or token",
      "auth:\\n  htpasswd: /h\\n  token:\\n    key: short          | x.yaml line 4: auth.token.key: must be at least 32",
      "auth:\\n  htpasswd: /h\\n  access:\\n    - users: [a]       | x.yaml line 4: auth.access[0].match: required",
      "auth:\\n  htpasswd: /h\\n  access:\\n    - match: a\\n      user: [a] | x.yaml line 5: auth.access[0].user: unknown key 'user'",
      "limits:\\n  retry:\\n    attempts: 0                        | x.yaml line 3: limits.retry.attempts: must be 1..20",
      "limits:\\n  retry:\\n    jitter: 2.0                        | x.yaml line 3: limits.retry.jitter: must be between 0 and 1",
      "limits:\\n  retry: {baseDelay: 5s, maxDelay: 1s}            | x.yaml line 2: limits.retry.maxDelay: must be at least baseDelay",
      "limits:\\n  upstreamIdleTimeout: 0s                         | x.yaml line 2: limits.upstreamIdleTimeout: must be positive",
      "limits:\\n  retry:\\n    tries: 3                           | x.yaml line 3: limits.retry.tries: unknown key 'tries'",
      "squash:\\n  rules:\\n    - match: a\\n      wait: -1s       | x.yaml line 4: squash.rules[0].wait: invalid duration '-1s'",
      "squash:\\n  rules:\\n    - match: a\\n      wait: later     | x.yaml line 4: squash.rules[0].wait: invalid duration 'later'",
  })
  void badConfigsAreRefusedNamingLineAndKey(String yaml, String expected) {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.parse(yaml.replace("\\n", "\n"), "x.yaml", Map.of()));
    // Columns are checked in errorsPointAtTheKeysOwnLineAndColumn.
    assertTrue(e.getMessage().replaceFirst(", column \\d+", "").contains(expected.trim()), e.getMessage());
  }

  /**
   * Each error names the offending key's own line and column (Jackson's parser location is the token after
   * it, often the next line): unknown keys, wrong types and invalid values, at the top, nested, in lists
   * and in flow style.
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      // unknown keys
      "listenn: 1                                                  | line 1, column 1: listenn: unknown key 'listenn'",
      "listen: 0.0.0.0:1\\nadmin:\\n  listenn: x\\ncache:\\n  directory: /d | line 3, column 3: admin.listenn: unknown key 'listenn'",
      "limits:\\n  retry:\\n    tries: 3\\n    attempts: 2       | line 3, column 5: limits.retry.tries: unknown key 'tries'",
      "upstreams:\\n  - url: http://a\\n    usrname: me\\n  - url: http://b | line 3, column 5: upstreams[0].usrname: unknown key 'usrname'",
      "upstreams:\\n  - url: http://a\\n  - url: http://b\\n    prefx: b | line 4, column 5: upstreams[1].prefx: unknown key 'prefx'",
      "squash:\\n  rules:\\n    - mach: a\\n      mode: all     | line 3, column 7: squash.rules[0].mach: unknown key 'mach'",
      "upstreams:\\n- url: http://a\\n  usrname: me\\nlisten: 0.0.0.0:1 | line 3, column 3: upstreams[0].usrname: unknown key 'usrname'",
      "limits:\\n  retry: {attempts: 2, tries: 3}                  | line 2, column 24: limits.retry.tries: unknown key 'tries'",
      "storage: {s3: {bucket: b, regoin: x}}                       | line 1, column 27: storage.s3.regoin: unknown key 'regoin'",
      // wrong types
      "cache:\\n  memoryEntries: many\\n  directory: /d          | line 2, column 3: cache.memoryEntries: Cannot",
      "upstreams:\\n  - url: http://a\\n    dockerHub: maybe\\n  - url: http://b | line 3, column 5: upstreams[0].dockerHub: Cannot",
      "logging:\\n  json: [1]\\nlisten: 0.0.0.0:1                 | line 2, column 3: logging.json: Cannot",
      // invalid values
      "cache:\\n  maxSize: lots\\n  tagTtl: 5m                   | line 2, column 3: cache.maxSize: invalid size 'lots'",
      "limits:\\n  retry:\\n    baseDelay: soon\\n    attempts: 2  | line 3, column 5: limits.retry.baseDelay: invalid duration 'soon'",
      "admin:\\n  listen: nowhere\\nlisten: 0.0.0.0:1            | line 2, column 3: admin.listen: expected HOST:PORT, got nowhere",
      "squash:\\n  rules:\\n    - match: a\\n    - match: b\\n      compression: gzip:12 | line 5, column 7: squash.rules[1].compression: level must be 1..9",
      "auth:\\n  htpasswd: /h\\n  token:\\n    realm: http://x\\n  realm: \"\" | line 5, column 3: auth.realm: must be non-empty",
  })
  void errorsPointAtTheKeysOwnLineAndColumn(String yaml, String expected) {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.parse(yaml.replace("\\n", "\n"), "x.yaml", Map.of()));
    assertTrue(e.getMessage().startsWith("x.yaml " + expected.trim()), e.getMessage());
  }

  @Test
  void theAccessControlSampleHasTokenAuthAndRules() throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of("access-control.yaml"), Map.of());
    assertEquals(Path.of("/etc/squash-proxy/htpasswd"), c.auth().htpasswd());
    assertEquals("token", c.auth().mode());
    assertNull(c.auth().token().key(), "an empty key means a random one per start");
    assertEquals(Duration.ofMinutes(5), c.auth().token().expiry());
    assertEquals(java.util.List.of("alice"), c.auth().access().get(0).users());
    assertTrue(c.auth().access().get(1).anonymous());
    assertNull(c.auth().access().get(2).users(), "no users key: every htpasswd user");
  }

  @Test
  void withoutAnAuthSectionTheProxyIsOpenAndAMinimalOneIsBasicAuth() throws Exception {
    assertNull(ProxyConfig.defaults().auth());
    ProxyConfig c = ConfigLoader.parse("auth:\n  htpasswd: /etc/h\n", "x.yaml", Map.of());
    assertEquals("basic", c.auth().mode());
    assertEquals(ProxyConfig.DEFAULT_REALM, c.auth().realm());
    assertTrue(c.auth().access().isEmpty());
  }

  @Test
  void maxPathsPerSquashDefaultsToHalfTheHeapPerSquashAndCanBeSet() throws Exception {
    ProxyConfig d = ConfigLoader.parse("limits:\n  concurrentSquashes: 2\n", "x.yaml", Map.of());
    assertEquals(Runtime.getRuntime().maxMemory() / 2 / 2 / ProxyConfig.HEAP_BYTES_PER_PATH,
        d.limits().maxPathsPerSquash());
    // -Xmx1g, one squash at a time: two million paths; -Xmx512m, two at a time: half a million each.
    assertEquals(1L << 21, ProxyConfig.defaultMaxPathsPerSquash(1L << 30, 1));
    assertEquals(1L << 19, ProxyConfig.defaultMaxPathsPerSquash(1L << 29, 2));
    ProxyConfig c = ConfigLoader.parse("limits:\n  maxPathsPerSquash: 5000\n", "x.yaml", Map.of());
    assertEquals(5000L, c.limits().maxPathsPerSquash());
  }

  @Test
  void upstreamTimeoutsAndRetriesHaveDefaultsAndCanBeSet() throws Exception {
    ProxyConfig.Limits d = ProxyConfig.defaults().limits();
    assertEquals(Duration.ofSeconds(60), d.upstreamIdleTimeout());
    assertEquals(new ProxyConfig.Retry(4, Duration.ofMillis(250), Duration.ofSeconds(10), 0.5,
        Duration.ofSeconds(30)), d.retry());

    ProxyConfig c = ConfigLoader.parse(String.join("\n",
        "limits:",
        "  connectTimeout: 3s",
        "  requestTimeout: 20s",
        "  upstreamIdleTimeout: 15s",
        "  retry:",
        "    attempts: 2",
        "    maxRetryAfter: 5s"), "x.yaml", Map.of());
    assertEquals(Duration.ofSeconds(3), c.limits().connectTimeout());
    assertEquals(Duration.ofSeconds(20), c.limits().requestTimeout());
    assertEquals(Duration.ofSeconds(15), c.limits().upstreamIdleTimeout());
    assertEquals(new ProxyConfig.Retry(2, Duration.ofMillis(250), Duration.ofSeconds(10), 0.5,
        Duration.ofSeconds(5)), c.limits().retry());
  }

  @ParameterizedTest
  @CsvSource({"512MiB, 536870912", "20GiB, 21474836480", "10GB, 10000000000", "1024, 1024", "1.5KiB, 1536"})
  void sizesHaveUnits(String text, long bytes) {
    assertEquals(bytes, ByteSize.parse(text).bytes());
  }
}
