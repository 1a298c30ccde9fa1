package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.LoggerFactory;

/**
 * A WireMock "registry" on 127.0.0.1 (plain http, dynamic port) and the {@link JibUpstream}s pointed at it.
 * The servers live as long as the test class (starting Jetty per test costs more than the tests); every
 * test starts from {@link WireMockServer#resetAll()}: no stubs, an empty request journal.
 *
 * <p>{@code user.home} is pointed at an empty temporary directory while a test runs, so Jib's docker-config
 * lookup (used when no username is configured) finds nothing on a developer's machine and the anonymous
 * flows stay anonymous; tests that want docker-config credentials write {@link #dockerConfig}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class WireMockRegistrySupport {
  static final String REPO = "library/busybox";
  static final String USER = "alice";
  static final String PASSWORD = "s3cret-Pa55";
  static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

  static {
    // Jetty and WireMock narrate every start and stop at INFO; keep the test output readable.
    for (String name : List.of("org.eclipse.jetty", "com.github.tomakehurst.wiremock", "WireMock")) {
      org.slf4j.Logger l = LoggerFactory.getLogger(name);
      if (l instanceof ch.qos.logback.classic.Logger logback) {
        logback.setLevel(ch.qos.logback.classic.Level.WARN);
      }
    }
  }

  Path home;
  WireMockServer registry;
  private final List<WireMockServer> servers = new ArrayList<>();
  private final List<JibUpstream> upstreams = new ArrayList<>();
  private String savedUserHome;

  @BeforeAll
  void startRegistry() throws IOException {
    home = Files.createTempDirectory("upstream-test-home");
    Files.createDirectories(home.resolve(".docker"));
    registry = newServer();
  }

  @AfterAll
  void stopServers() throws IOException {
    for (WireMockServer s : servers) {
      s.stop();
    }
    Files.deleteIfExists(home.resolve(".docker/config.json"));
    Files.deleteIfExists(home.resolve(".docker"));
    Files.deleteIfExists(home);
  }

  @BeforeEach
  void resetServers() throws IOException {
    for (WireMockServer s : servers) {
      s.resetAll();
    }
    Files.deleteIfExists(home.resolve(".docker/config.json"));
    savedUserHome = System.getProperty("user.home");
    System.setProperty("user.home", home.toString());
  }

  @AfterEach
  void closeUpstreams() throws IOException {
    try {
      for (JibUpstream u : upstreams) {
        u.close();
      }
      upstreams.clear();
    } finally {
      System.setProperty("user.home", savedUserHome);
    }
  }

  /** Another server: another port on 127.0.0.1 is another origin. */
  WireMockServer newServer() {
    WireMockServer s = new WireMockServer(options()
        .bindAddress("127.0.0.1")
        .dynamicPort()
        .containerThreads(12)
        .jettyAcceptors(1)
        .asynchronousResponseEnabled(false));
    s.start();
    servers.add(s);
    return s;
  }

  String base() {
    return base(registry);
  }

  static String base(WireMockServer s) {
    return "http://127.0.0.1:" + s.port();
  }

  /** {@code 127.0.0.1:PORT}, as Jib and the docker config name the registry. */
  String registryHost() {
    return "127.0.0.1:" + registry.port();
  }

  UpstreamSettings settings(String user, String password) {
    return settings(base(), user, password);
  }

  static UpstreamSettings settings(String url, String user, String password) {
    // No retries here: these tests count upstream requests; JibUpstreamRetryTest covers the retry policy.
    return new UpstreamSettings("test", URI.create(url), null, false, user, password, null,
        Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(5), RetryPolicy.none());
  }

  JibUpstream upstream() {
    return upstream(null, null);
  }

  JibUpstream upstream(String user, String password) {
    return track(new JibUpstream(settings(user, password)));
  }

  JibUpstream track(JibUpstream u) {
    upstreams.add(u);
    return u;
  }

  /** The registry answers {@code /v2/} with 200: no authentication at all; unknown paths are 404. */
  void anonymousRegistry() {
    registry.stubFor(get(urlEqualTo("/v2/")).willReturn(aResponse().withStatus(200)
        .withHeader("Content-Type", "application/json").withBody("{}")));
    notFoundByDefault(registry);
  }

  /** What a registry says about anything it does not have (and keeps WireMock from reporting near misses). */
  static void notFoundByDefault(WireMockServer s) {
    s.stubFor(any(anyUrl()).atPriority(100).willReturn(aResponse().withStatus(404)
        .withHeader("Content-Type", "application/json")
        .withBody("{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"not found\"}]}")));
  }

  /** Everything under {@code /v2/} that no more specific stub matches answers 401 with {@code challenge}. */
  void challengeEverything(String challenge) {
    registry.stubFor(any(urlPathMatching("/v2/.*")).atPriority(10).willReturn(aResponse().withStatus(401)
        .withHeader("WWW-Authenticate", challenge)
        .withHeader("Content-Type", "application/json")
        .withBody("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}")));
  }

  /** Writes {@code ~/.docker/config.json} with basic credentials for this registry. */
  void dockerConfig(String user, String password) throws IOException {
    Files.writeString(home.resolve(".docker/config.json"), "{\"auths\":{\"" + registryHost()
        + "\":{\"auth\":\"" + basic(user, password) + "\"}}}");
  }

  static String basic(String user, String password) {
    return Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static Digest sha256(byte[] data) {
    return Digest.sha256(data);
  }

  static String manifestPath(String repository, String reference) {
    return "/v2/" + repository + "/manifests/" + reference;
  }

  static String blobPath(String repository, Digest digest) {
    return "/v2/" + repository + "/blobs/" + digest;
  }

  /** A port nothing listens on (bound, then released). */
  static int closedPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }
}
