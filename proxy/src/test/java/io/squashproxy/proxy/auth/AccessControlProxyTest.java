package io.squashproxy.proxy.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.app.SquashProxy;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The assembled proxy with an {@code auth} section, on real sockets: challenges, logins, per-repository rules,
 * the token flow, and cached digests served only through repositories that hold them.
 */
class AccessControlProxyTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ACCESS = String.join("\n",
      "  access:",
      "    - match: 'team-a/**'",
      "      users: [alice]",
      "    - match: 'public/**'",
      "      anonymous: true");

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newHttpClient();
  private RepositoryScopedRegistry up;
  private TestImage base;
  private TestImage app;
  private SquashProxy proxy;
  private String url;

  @BeforeEach
  void upstream() throws Exception {
    up = new RepositoryScopedRegistry("up");
    LayerBuilder shared = LayerBuilder.layer().file("etc/os-release", "base");
    base = TestImage.docker().layer(shared).build();
    app = TestImage.docker().layer(LayerBuilder.layer().file("etc/os-release", "base"))
        .layer(LayerBuilder.layer().file("srv/secret.txt", "team-a only")).build();
    up.push("public/base", "1", base);
    up.push("team-a/app", "1", app);
    Path htpasswd = dir.resolve("htpasswd");
    // $2y$ as htpasswd -B writes, and $2a$/$2b$ as other tools do.
    Files.writeString(htpasswd, String.join("\n",
        "alice:" + new String(BCrypt.with(BCrypt.Version.VERSION_2Y).hash(4, "alice-pw".toCharArray())),
        "bob:" + new String(BCrypt.with(BCrypt.Version.VERSION_2B).hash(4, "bob-pw".toCharArray())),
        "carol:" + new String(BCrypt.with(BCrypt.Version.VERSION_2A).hash(4, "carol-pw".toCharArray())),
        "mallory:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", ""));
  }

  private void start(String mode) throws Exception {
    proxy = startProxy(mode, dir.resolve("cache"), "");
    url = "http://127.0.0.1:" + proxy.address().getPort();
  }

  private SquashProxy startProxy(String mode, Path cache, String storageYaml) throws Exception {
    ProxyConfig config = ConfigLoader.parse(String.join("\n",
        "listen: 127.0.0.1:0",
        "admin: {listen: 127.0.0.1:0}",
        "upstreams: [{name: up, url: 'http://127.0.0.1:1'}]",
        // mode all squashes these small images that waste nothing; the wait makes the first pull squashed
        "squash: {rules: [{match: '**', mode: all, wait: 10m}]}",
        "cache: {directory: '" + cache + "'}",
        storageYaml,
        "auth:",
        "  htpasswd: '" + dir.resolve("htpasswd") + "'",
        "  mode: " + mode,
        ACCESS), "test.yaml", Map.of());
    return SquashProxy.start(config, s -> up, Ticker.systemTicker());
  }

  @AfterEach
  void stop() throws Exception {
    if (proxy != null) {
      proxy.close();
    }
  }

  private static String basic(String user, String password) {
    return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  private HttpResponse<String> get(String path, String authorization) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    b.header("Accept", "application/vnd.docker.distribution.manifest.v2+json");
    // Far below the proxy's idle timeout (2 min): a connection left with reads paused must fail the test,
    // not be closed by the idle timer and silently retried by the JDK client on a new connection.
    b.timeout(java.time.Duration.ofSeconds(30));
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String code(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body()).path("errors").path(0).path("code").asText();
  }

  @Test
  void basicModeChallengesChecksPasswordsAndAppliesTheRules() throws Exception {
    start("basic");
    String alice = basic("alice", "alice-pw");
    HttpResponse<String> ping = get("/v2/", null);
    assertEquals(401, ping.statusCode());
    assertEquals("Basic realm=\"squash-proxy\"", ping.headers().firstValue("WWW-Authenticate").orElse(""));
    assertEquals("UNAUTHORIZED", code(ping));
    assertEquals(200, get("/v2/", alice).statusCode());
    assertEquals(200, get("/v2/", basic("bob", "bob-pw")).statusCode(), "$2b$ entries work");
    assertEquals(200, get("/v2/", basic("carol", "carol-pw")).statusCode(), "$2a$ entries work");
    assertEquals(401, get("/v2/", basic("alice", "wrong")).statusCode());
    assertEquals(401, get("/v2/", basic("nobody", "alice-pw")).statusCode());
    assertEquals(401, get("/v2/", basic("mallory", "password")).statusCode(), "non-bcrypt entries are refused");

    assertEquals(200, get("/v2/team-a/app/manifests/1", alice).statusCode());
    HttpResponse<String> bob = get("/v2/team-a/app/manifests/1", basic("bob", "bob-pw"));
    assertEquals(403, bob.statusCode());
    assertEquals("DENIED", code(bob));
    HttpResponse<String> anon = get("/v2/team-a/app/manifests/1", null);
    assertEquals(401, anon.statusCode());
    assertTrue(anon.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Basic realm="));
    assertEquals(401, get("/v2/team-a/app/tags/list", null).statusCode());
    assertEquals(403, get("/v2/team-a/app/tags/list", basic("bob", "bob-pw")).statusCode());
    assertEquals(200, get("/v2/team-a/app/tags/list", alice).statusCode());
    assertEquals(401, get("/v2/_catalog", null).statusCode());
    // A wrong password is refused even where anonymous pulls are allowed (docker login must fail).
    assertEquals(200, get("/v2/public/base/manifests/1", null).statusCode());
    assertEquals(401, get("/v2/public/base/manifests/1", basic("alice", "nope")).statusCode());
    // Names that route elsewhere are judged by the routed name: no way around a rule by aliasing.
    assertEquals(403, get("/v2/team-a/app/manifests/1?ns=up", basic("bob", "bob-pw")).statusCode());

    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + proxy.adminAddress().getPort() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(metrics.contains("squash_proxy_requests_seconds_count{method=\"GET\",route=\"base\",status=\"401\"}"),
        "refusals count in the request metrics");
    assertTrue(metrics.contains("route=\"manifest\",status=\"403\"} 2"), metrics);
  }

  @Test
  void cachedContentIsServedOnlyThroughRepositoriesThatHoldIt() throws Exception {
    start("basic");
    String alice = basic("alice", "alice-pw");
    HttpResponse<String> m = get("/v2/team-a/app/manifests/1", alice);
    assertEquals(200, m.statusCode());
    Digest squashed = Digest.parse(m.headers().firstValue("Docker-Content-Digest").orElseThrow());
    JsonNode manifest = JSON.readTree(m.body());
    String squashedLayer = manifest.path("layers").path(0).path("digest").asText();
    Digest secretLayer = app.layerDigests().get(1);
    Digest sharedLayer = base.layerDigests().get(0);
    assertTrue(proxy.store().blob(secretLayer).isPresent(), "the original layer is cached (it was squashed)");
    assertTrue(proxy.store().blob(Digest.parse(squashedLayer)).isPresent());

    // alice, through the repository she pulled: everything the manifest names, without asking upstream.
    int refusedBefore = up.refused.get();
    assertEquals(200, get("/v2/team-a/app/manifests/" + squashed, alice).statusCode());
    assertEquals(200, get("/v2/team-a/app/blobs/" + squashedLayer, alice).statusCode());
    assertEquals(200, get("/v2/team-a/app/blobs/" + secretLayer, alice).statusCode());
    assertEquals(refusedBefore, up.refused.get());

    // Anyone, through the anonymous repository: not team-a's cached content.
    HttpResponse<String> secret = get("/v2/public/base/blobs/" + secretLayer, null);
    assertEquals(404, secret.statusCode());
    assertEquals("BLOB_UNKNOWN", code(secret));
    assertEquals(404, get("/v2/public/base/blobs/" + squashedLayer, null).statusCode());
    HttpResponse<String> man = get("/v2/public/base/manifests/" + squashed, null);
    assertEquals(404, man.statusCode());
    assertEquals("MANIFEST_UNKNOWN", code(man));
    assertFalse(man.body().contains("secret"));
    // A layer both repositories hold is served once upstream confirms it.
    assertEquals(200, get("/v2/public/base/blobs/" + sharedLayer, null).statusCode());
  }

  /** The digests a pull of team-a/app:1 fetches after the manifest: its config and layers. */
  private java.util.List<String> pullDigests(JsonNode manifest) {
    java.util.List<String> d = new java.util.ArrayList<>();
    d.add(manifest.path("config").path("digest").asText());
    manifest.path("layers").forEach(l -> d.add(l.path("digest").asText()));
    return d;
  }

  private void awaitLinkStored(Path cache, String digest) throws Exception {
    Path log = cache.resolve("links/links.log");
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!(Files.exists(log) && Files.readString(log).contains(digest))) {
      assertTrue(System.nanoTime() < deadline, "link to " + digest + " not stored");
      Thread.sleep(10);
    }
  }

  /** What a client pulls of an image after its manifest by tag: the manifest by digest, config and layers. */
  private record Pulled(String repository, String manifest, java.util.List<String> blobs) {}

  private Pulled pull(String repository, String authorization) throws Exception {
    HttpResponse<String> m = get("/v2/" + repository + "/manifests/1", authorization);
    assertEquals(200, m.statusCode());
    return new Pulled(repository, m.headers().firstValue("Docker-Content-Digest").orElseThrow(),
        pullDigests(JSON.readTree(m.body())));
  }

  /** The pull by digest, answered without a single upstream request. */
  private void assertPullsWithoutUpstream(Pulled p, String authorization) throws Exception {
    int before = up.requests.get();
    assertEquals(200, get("/v2/" + p.repository() + "/manifests/" + p.manifest(), authorization).statusCode());
    for (String b : p.blobs()) {
      assertEquals(200, get("/v2/" + p.repository() + "/blobs/" + b, authorization).statusCode(), b);
    }
    assertEquals(before, up.requests.get(), "nothing asked upstream for " + p);
  }

  @Test
  void linksSurviveARestartSoCachedContentNeedsNoUpstream() throws Exception {
    start("basic");
    String alice = basic("alice", "alice-pw");
    Pulled app = pull("team-a/app", alice);
    // One layer: served as it is upstream, so only a link (not a squash record) says public/base holds it.
    Pulled pub = pull("public/base", null);
    assertEquals(base.layerDigests().get(0).toString(), pub.blobs().get(1));
    awaitLinkStored(dir.resolve("cache"), app.blobs().get(app.blobs().size() - 1));
    awaitLinkStored(dir.resolve("cache"), pub.blobs().get(1));
    proxy.close();

    up.setDown(true);
    start("basic");
    assertPullsWithoutUpstream(app, alice);
    assertPullsWithoutUpstream(pub, null);
    // Links are per repository still: team-a's squashed layer is not served through public/base.
    assertEquals(404, get("/v2/public/base/blobs/" + app.blobs().get(1), null).statusCode());
  }

  @Test
  void linksAreSharedBetweenReplicasThroughTheBucket() throws Exception {
    try (io.squashproxy.proxy.testing.InProcessS3 s3 =
        io.squashproxy.proxy.testing.InProcessS3.start(dir.resolve("s3"), "shared")) {
      String storage = String.join("\n", "storage:", "  s3:", "    bucket: shared", "    prefix: links-test",
          "    endpoint: " + s3.endpoint(), "    region: us-east-1", "    pathStyle: true",
          "    accessKeyId: " + io.squashproxy.proxy.testing.InProcessS3.ACCESS_KEY,
          "    secretAccessKey: " + io.squashproxy.proxy.testing.InProcessS3.SECRET_KEY);
      proxy = startProxy("basic", dir.resolve("cache-a"), storage);
      url = "http://127.0.0.1:" + proxy.address().getPort();
      String alice = basic("alice", "alice-pw");
      Pulled app = pull("team-a/app", alice);
      Pulled pub = pull("public/base", null);
      assertEquals(base.layerDigests().get(0).toString(), pub.blobs().get(1));
      awaitLinkStored(dir.resolve("cache-a"), pub.blobs().get(1));
      // The bucket puts follow the local append in the same task: wait for the last one.
      long deadline = System.nanoTime() + 10_000_000_000L;
      try (var bucket = s3.store("shared", "links-test/", 5 << 20)) {
        String key = "links/" + Digest.sha256(("up\npublic/base\n" + pub.blobs().get(1))
            .getBytes(StandardCharsets.UTF_8)).hex();
        while (!bucket.exists(key)) {
          assertTrue(System.nanoTime() < deadline, "link not in the bucket: " + key);
          Thread.sleep(10);
        }
      }

      up.setDown(true);
      try (SquashProxy b = startProxy("basic", dir.resolve("cache-b"), storage)) {
        url = "http://127.0.0.1:" + b.address().getPort();
        assertPullsWithoutUpstream(app, alice);
        assertPullsWithoutUpstream(pub, null);
      }
    }
  }

  @Test
  void tokenModeIssuesScopedTokensThatTheProxyChecks() throws Exception {
    start("token");
    HttpResponse<String> ping = get("/v2/", null);
    assertEquals(401, ping.statusCode());
    String realm = url + "/token";
    assertEquals("Bearer realm=\"" + realm + "\",service=\"squash-proxy\"",
        ping.headers().firstValue("WWW-Authenticate").orElse(""));
    HttpResponse<String> pull = get("/v2/team-a/app/manifests/1", null);
    assertEquals("Bearer realm=\"" + realm + "\",service=\"squash-proxy\",scope=\"repository:team-a/app:pull\"",
        pull.headers().firstValue("WWW-Authenticate").orElse(""));

    String scope = "?service=squash-proxy&scope=" + URLEncoder.encode("repository:team-a/app:pull",
        StandardCharsets.UTF_8);
    HttpResponse<String> issued = get("/token" + scope, basic("alice", "alice-pw"));
    assertEquals(200, issued.statusCode(), issued.body());
    JsonNode t = JSON.readTree(issued.body());
    assertEquals(t.path("token").asText(), t.path("access_token").asText());
    assertEquals(300, t.path("expires_in").asInt());
    assertTrue(t.path("issued_at").asText().endsWith("Z"));
    String bearer = "Bearer " + t.path("token").asText();
    assertEquals(200, get("/v2/", bearer).statusCode(), "docker login checks /v2/ with the token");
    assertEquals(200, get("/v2/team-a/app/manifests/1", bearer).statusCode());
    HttpResponse<String> outOfScope = get("/v2/public/base/manifests/1", bearer);
    assertEquals(401, outOfScope.statusCode());
    assertTrue(outOfScope.headers().firstValue("WWW-Authenticate").orElse("")
        .endsWith("scope=\"repository:public/base:pull\",error=\"insufficient_scope\""));

    assertEquals(401, get("/token" + scope, basic("alice", "wrong")).statusCode());
    String bobToken = JSON.readTree(get("/token" + scope, basic("bob", "bob-pw")).body()).path("token").asText();
    HttpResponse<String> bob = get("/v2/team-a/app/manifests/1", "Bearer " + bobToken);
    assertEquals(403, bob.statusCode());
    assertEquals("DENIED", code(bob));

    String anonToken = JSON.readTree(get("/token?service=squash-proxy&scope=repository:public/base:pull"
        + "&scope=repository:team-a/app:pull", null).body()).path("token").asText();
    assertEquals(200, get("/v2/public/base/manifests/1", "Bearer " + anonToken).statusCode());
    assertEquals(401, get("/v2/team-a/app/manifests/1", "Bearer " + anonToken).statusCode());

    String tampered = bearer.substring(0, bearer.length() - 2) + (bearer.endsWith("AA") ? "BB" : "AA");
    assertEquals(401, get("/v2/team-a/app/manifests/1", tampered).statusCode());

    // containerd's OAuth2 form.
    HttpResponse<String> form = http.send(HttpRequest.newBuilder(URI.create(realm))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("grant_type=password&username=alice&password=alice-pw"
            + "&service=squash-proxy&client_id=containerd&scope=repository%3Ateam-a%2Fapp%3Apull")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, form.statusCode(), form.body());
    assertEquals(200, get("/v2/team-a/app/manifests/1",
        "Bearer " + JSON.readTree(form.body()).path("access_token").asText()).statusCode());
  }
}
