package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Access control with the real tools: a Distribution registry that wants a login (htpasswd) as the upstream,
 * the proxy with its own htpasswd users and per-repository rules, and dockerd as the client: {@code docker
 * pull} without login fails, {@code docker login} then {@code docker pull} works, a user without permission
 * is denied; in token mode docker follows the Bearer realm to the proxy's /token. The proxy's upstream
 * password shows nowhere: not in its log, its metrics or its status page.
 */
class AccessControlTest {
  private static final String UPSTREAM_USER = "squash";
  private static final String UPSTREAM_PASSWORD = "Upstream-Canary-5be1f09d3c";

  static Scratch scratch;
  static Process registry;
  static int registryPort;
  static Dockerd dockerd;
  /** The digest of the layer only team-a/app holds upstream. */
  static String secretLayer;
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void fixtures() throws Exception {
    Env.requireTools("docker-registry", "skopeo", "umoci", "dockerd", "docker");
    scratch = Scratch.create("acl");
    Path upstreamHtpasswd = scratch.resolve("upstream.htpasswd");
    Files.writeString(upstreamHtpasswd, UPSTREAM_USER + ":" + bcrypt(UPSTREAM_PASSWORD) + "\n");
    registryPort = Proc.freePort();
    Path config = scratch.resolve("registry.yml");
    Files.writeString(config, String.join("\n",
        "version: 0.1",
        "log: { level: warn, accesslog: { disabled: true } }",
        "storage: { filesystem: { rootdirectory: " + scratch.dir("storage") + " } }",
        "http: { addr: 127.0.0.1:" + registryPort + " }",
        "auth: { htpasswd: { realm: upstream, path: " + upstreamHtpasswd + " } }", ""));
    registry = Proc.of("docker-registry", "serve", config.toString()).startBackground(scratch.resolve("registry.log"));
    // With auth on, /v2/ answers 401 to an anonymous client once it is up.
    Proc.awaitHttpStatus(registry, HTTP, URI.create("http://127.0.0.1:" + registryPort + "/v2/"), 401,
        Duration.ofSeconds(30), "docker-registry", scratch.resolve("registry.log"));
    try (ImageBuilder img = ImageBuilder.create("app")) {
      img.layer("base", "mkdir -p etc && echo base > etc/os-release")
          .layer("tool", "echo 'a tool' > tool.txt")
          .layer("cleanup", "rm etc/os-release");
      push(img, "public/tool");
      // team-a's image: the same layers and one of its own, which public/tool must never hand out.
      img.layer("secret", "echo 'team-a only' > secret.txt");
      push(img, "team-a/app");
      JsonNode index = JSON.readTree(img.layout().resolve("index.json").toFile());
      String manifest = index.path("manifests").path(0).path("digest").asText();
      JsonNode layers = JSON.readTree(img.layout().resolve("blobs/sha256/" + manifest.substring(7)).toFile())
          .path("layers");
      secretLayer = layers.path(layers.size() - 1).path("digest").asText();
    }
    dockerd = Dockerd.start();
  }

  @AfterAll
  static void stop() {
    List<AutoCloseable> all = new ArrayList<>();
    all.add(dockerd);
    all.add(() -> {
      if (registry != null) {
        Proc.stop(registry, Duration.ofSeconds(5));
      }
    });
    all.add(scratch);
    Cleanup.closeAll(all);
  }

  private static void push(ImageBuilder img, String repo) {
    Skopeo.copy(img.skopeoRef(), "docker://127.0.0.1:" + registryPort + "/" + repo + ":1", "--format", "v2s2",
        "--dest-creds", UPSTREAM_USER + ":" + UPSTREAM_PASSWORD);
  }

  private static String bcrypt(String password) {
    // $2y$, as htpasswd -B writes it.
    return new String(BCrypt.with(BCrypt.Version.VERSION_2Y).hash(5, password.toCharArray()),
        StandardCharsets.US_ASCII);
  }

  @ParameterizedTest(name = "{0} mode")
  @ValueSource(strings = {"basic", "token"})
  void dockerLoginThenPullAndOnlyPermittedRepositories(String mode) throws Exception {
    try (AuthProxy proxy = AuthProxy.start(mode)) {
      String app = proxy.host() + "/team-a/app:1";
      String tool = proxy.host() + "/public/tool:1";

      Proc.Result anonymous = dockerd.cli("pull", app).run();
      assertNotEquals(0, anonymous.exitCode(), "pull without login must fail");
      assertTrue(anonymous.output().matches("(?s).*(no basic auth credentials|unauthorized|authentication required"
          + "|requested access to the resource is denied).*"), anonymous.output());
      if (mode.equals("token")) {
        // docker fetches an anonymous token, which covers the repository that allows anonymous pulls.
        dockerd.docker("pull", tool);
        dockerd.docker("rmi", tool);
      }

      Proc.Result wrong = login(proxy, "alice", "not-her-password");
      assertNotEquals(0, wrong.exitCode(), "login with a wrong password must fail: " + wrong.output());

      assertEquals(0, login(proxy, "alice", "alice-pw").exitCode());
      dockerd.docker("pull", app);
      assertEquals("1", dockerd.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", app)
          .stdout().strip(), "pulled through the proxy, squashed");
      dockerd.docker("rmi", app);
      dockerd.docker("logout", proxy.host());
      if (mode.equals("token")) {
        assertTrue(Proc.readQuietly(proxy.log).contains("\"GET /token?"), "docker followed the Bearer realm");
      }

      // The login, the pull's requests (and the token fetches) and the check below share one bcrypt.
      long bcrypts = Proc.readQuietly(proxy.log).lines().filter(l -> l.contains("verified the password of alice"))
          .count();
      assertEquals(1, bcrypts, "bcrypt checks for alice's login and pull");

      // team-a's layer is in the cache now (it was squashed); through public/tool it stays unknown.
      String basicAlice = "Basic " + Base64.getEncoder().encodeToString("alice:alice-pw".getBytes(StandardCharsets.UTF_8));
      assertEquals(200, status("http://" + proxy.host() + "/v2/team-a/app/blobs/" + secretLayer, basicAlice));
      assertEquals(404, status("http://" + proxy.host() + "/v2/public/tool/blobs/" + secretLayer, null));
      assertEquals(404, status("http://" + proxy.host() + "/v2/public/tool/blobs/" + secretLayer, basicAlice));

      assertEquals(0, login(proxy, "bob", "bob-pw").exitCode());
      Proc.Result denied = dockerd.cli("pull", app).run();
      assertNotEquals(0, denied.exitCode(), "bob may not pull team-a's images");
      assertTrue(denied.output().contains("denied"), denied.output());
      dockerd.docker("pull", tool);
      dockerd.docker("rmi", tool);
      dockerd.docker("logout", proxy.host());

      List<String> leaks = proxy.leaksOf(UPSTREAM_PASSWORD,
          Base64.getEncoder().encodeToString((UPSTREAM_USER + ":" + UPSTREAM_PASSWORD).getBytes(StandardCharsets.UTF_8)),
          "alice-pw", "bob-pw");
      assertTrue(leaks.isEmpty(), "credentials showed in: " + leaks);
    }
  }

  private static Proc.Result login(AuthProxy proxy, String user, String password) throws IOException {
    Path pw = proxy.scratch.resolve("pw-" + user);
    Files.writeString(pw, password + "\n");
    return dockerd.cli("login", proxy.host(), "-u", user, "--password-stdin").stdin(pw).run();
  }

  /** The proxy with an {@code auth} section and an upstream that needs the proxy's own login. */
  static final class AuthProxy implements AutoCloseable {
    final Scratch scratch;
    final Process process;
    final int port;
    final int admin;
    final Path log;

    private AuthProxy(Scratch scratch, Process process, int port, int admin, Path log) {
      this.scratch = scratch;
      this.process = process;
      this.port = port;
      this.admin = admin;
      this.log = log;
    }

    static AuthProxy start(String mode) throws IOException {
      Scratch s = Scratch.create("acl-proxy");
      try {
        Path htpasswd = s.resolve("htpasswd");
        Files.writeString(htpasswd, "alice:" + bcrypt("alice-pw") + "\nbob:" + bcrypt("bob-pw") + "\n");
        int port = Proc.freePort();
        int admin = Proc.freePort();
        Path config = s.resolve("squash-proxy.yaml");
        Files.writeString(config, String.join("\n",
            "listen: 127.0.0.1:" + port,
            "admin: { listen: 127.0.0.1:" + admin + " }",
            "upstreams:",
            "  - name: private",
            "    url: http://127.0.0.1:" + registryPort,
            "    username: " + UPSTREAM_USER,
            "    password: ${UPSTREAM_PASSWORD}",
            "cache: { directory: " + s.dir("cache") + " }",
            // mode all: these small images waste nothing; the wait: the first pull is squashed
            "squash: { rules: [ { match: '**', mode: all, wait: 10m } ] }",
            "logging: { accessLog: true }",
            "auth:",
            "  htpasswd: " + htpasswd,
            "  mode: " + mode,
            "  access:",
            "    - { match: 'team-a/**', users: [alice] }",
            "    - { match: 'public/**', anonymous: true }", ""));
        Path log = s.resolve("proxy.log");
        Process p = Proc.of(Env.java().toString(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-jar", Env.squashJar().toString(), "serve", "--config", config.toString())
            .env("UPSTREAM_PASSWORD", UPSTREAM_PASSWORD).env("SQUASH_LOG_LEVEL", "DEBUG").startBackground(log);
        AuthProxy proxy = new AuthProxy(s, p, port, admin, log);
        // With auth on, /v2/ answers 401 to an anonymous client: readiness is the admin listener's.
        Proc.awaitHttp200(p, HTTP, URI.create(proxy.adminUrl() + "/readyz"), Duration.ofSeconds(60), "the proxy",
            log);
        return proxy;
      } catch (IOException | RuntimeException | Error e) {
        s.close();
        throw e;
      }
    }

    String host() {
      return "127.0.0.1:" + port;
    }

    String adminUrl() {
      return "http://127.0.0.1:" + admin;
    }

    /** Where any of {@code secrets} shows: the log, /metrics, the status page. */
    List<String> leaksOf(String... secrets) throws Exception {
      List<String> where = new ArrayList<>();
      String metrics = get(adminUrl() + "/metrics");
      String page = get(adminUrl() + "/");
      assertTrue(page.contains("private/"), "the status page lists the pulled images: " + page);
      assertTrue(metrics.contains("squash_proxy_requests"), metrics);
      String logText = Proc.readQuietly(log);
      assertFalse(logText.isEmpty());
      for (String secret : secrets) {
        if (logText.contains(secret)) {
          where.add("log (" + secret + ")");
        }
        if (metrics.contains(secret)) {
          where.add("/metrics (" + secret + ")");
        }
        if (page.contains(secret)) {
          where.add("status page (" + secret + ")");
        }
      }
      return where;
    }

    @Override
    public void close() {
      try {
        Proc.stop(process, Duration.ofSeconds(10));
      } finally {
        scratch.close();
      }
    }
  }

  private static String get(String url) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  private static int status(String url, String authorization) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }
}
