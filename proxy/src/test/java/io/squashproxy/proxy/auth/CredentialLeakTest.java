package io.squashproxy.proxy.auth;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import at.favre.lib.crypto.bcrypt.BCrypt;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import com.github.benmanes.caffeine.cache.Ticker;
import com.github.tomakehurst.wiremock.WireMockServer;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.app.SquashProxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Upstream credentials (and client passwords) never show: not in the log (at DEBUG, with the access log on),
 * not in error bodies, not on /metrics or the status page, whatever the upstream answers: success, wrong
 * credentials (401), server errors (500), an unreachable host.
 */
class CredentialLeakTest {
  private static final String USER = "squash";
  private static final String PASSWORD = "Up-Canary-7f3e9c41b2";
  private static final String WRONG_PASSWORD = "Wrong-Canary-0d5a8e7713";
  private static final String CLIENT_PASSWORD = "Client-Canary-c81b44f0aa";
  private static final String REPO = "team/app";

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newHttpClient();

  private static List<String> canaries() {
    List<String> out = new ArrayList<>();
    for (String[] up : new String[][] {{USER, PASSWORD}, {USER, WRONG_PASSWORD}, {"alice", CLIENT_PASSWORD}}) {
      out.add(up[1]);
      out.add(b64(up[1]));
      out.add(b64(up[0] + ":" + up[1]));
      out.add(up[0] + ":" + up[1]);
    }
    return out;
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  /** A registry wanting Basic credentials; one repository answers 500 even to good ones. */
  private static WireMockServer registry(TestImage image) {
    WireMockServer s = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort().jettyAcceptors(1)
        .containerThreads(12));
    s.start();
    s.stubFor(any(anyUrl()).atPriority(10).willReturn(aResponse().withStatus(401)
        .withHeader("WWW-Authenticate", "Basic realm=\"upstream\"")
        .withHeader("Content-Type", "application/json")
        .withBody("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}")));
    s.stubFor(get(urlEqualTo("/v2/")).atPriority(1).withBasicAuth(USER, PASSWORD).willReturn(okJson("{}")));
    String mt = "application/vnd.docker.distribution.manifest.v2+json";
    for (String ref : List.of("1", image.manifestDigest().toString())) {
      String path = "/v2/" + REPO + "/manifests/" + ref;
      s.stubFor(get(urlEqualTo(path)).atPriority(1).withBasicAuth(USER, PASSWORD).willReturn(aResponse()
          .withStatus(200).withHeader("Content-Type", mt).withBody(image.manifest())));
      s.stubFor(head(urlEqualTo(path)).atPriority(1).withBasicAuth(USER, PASSWORD).willReturn(aResponse()
          .withStatus(200).withHeader("Content-Type", mt)
          .withHeader("Docker-Content-Digest", image.manifestDigest().toString())
          .withHeader("Content-Length", String.valueOf(image.manifest().length))));
    }
    List<byte[]> blobs = new ArrayList<>(image.layerBlobs());
    blobs.add(image.config());
    for (byte[] b : blobs) {
      s.stubFor(get(urlEqualTo("/v2/" + REPO + "/blobs/" + Digest.sha256(b))).atPriority(1)
          .withBasicAuth(USER, PASSWORD).willReturn(aResponse().withStatus(200).withBody(b)));
    }
    s.stubFor(get(urlPathEqualTo("/v2/" + REPO + "/tags/list")).atPriority(1).withBasicAuth(USER, PASSWORD)
        .willReturn(okJson("{\"name\":\"" + REPO + "\",\"tags\":[\"1\"]}")));
    s.stubFor(any(urlPathMatching("/v2/team/broken/.*")).atPriority(1).withBasicAuth(USER, PASSWORD)
        .willReturn(aResponse().withStatus(500).withBody("upstream exploded")));
    return s;
  }

  @Test
  void credentialsAppearNowhereWhateverUpstreamAnswers() throws Exception {
    TestImage image = TestImage.docker().layer(LayerBuilder.layer().file("a", "1"))
        .layer(LayerBuilder.layer().file("b", "2")).build();
    WireMockServer upstream = registry(image);
    Path htpasswd = dir.resolve("htpasswd");
    Files.writeString(htpasswd, "alice:" + new String(BCrypt.with(BCrypt.Version.VERSION_2Y)
        .hash(4, CLIENT_PASSWORD.toCharArray())) + "\n");
    String base = "http://127.0.0.1:" + upstream.port();
    String home = System.getProperty("user.home");
    // No docker config of the machine's: the configured credentials are the only ones.
    System.setProperty("user.home", dir.toString());
    // Everything the proxy's process would log (Jib and Netty included), with our own code at DEBUG.
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    Logger ours = (Logger) LoggerFactory.getLogger("io.squashproxy");
    Level ourLevel = ours.getLevel();
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.start();
    root.addAppender(logs);
    ours.setLevel(Level.DEBUG);
    List<String> seen = new ArrayList<>();
    try {
      ProxyConfig config = ConfigLoader.parse(String.join("\n",
          "listen: 127.0.0.1:0",
          "admin: {listen: 127.0.0.1:0}",
          "logging: {accessLog: true}",
          "upstreams:",
          "  - {name: good, url: '" + base + "', username: " + USER + ", password: " + PASSWORD + "}",
          "  - {name: bad, prefix: bad.test, url: '" + base + "', username: " + USER + ", password: "
              + WRONG_PASSWORD + "}",
          "  - {name: gone, prefix: gone.test, url: 'http://127.0.0.1:9', username: " + USER + ", password: "
              + PASSWORD + "}",
          "cache: {directory: '" + dir.resolve("cache") + "'}",
          "limits: {connectTimeout: 2s, requestTimeout: 5s}",
          "auth: {htpasswd: '" + htpasswd + "', mode: token}"), "leak.yaml", Map.of());
      try (SquashProxy proxy = SquashProxy.start(config, null, Ticker.systemTicker())) {
        String url = "http://127.0.0.1:" + proxy.address().getPort();
        String admin = "http://127.0.0.1:" + proxy.adminAddress().getPort();
        String client = "Basic " + b64("alice:" + CLIENT_PASSWORD);
        HttpResponse<String> token = send(url + "/token?service=squash-proxy&scope=repository:" + REPO
            + ":pull&scope=repository:team/broken:pull&scope=repository:bad.test/team/app:pull"
            + "&scope=repository:gone.test/team/app:pull", client, seen);
        assertEquals(200, token.statusCode(), token.body());
        String bearer = "Bearer " + new com.fasterxml.jackson.databind.ObjectMapper().readTree(token.body())
            .path("token").asText();

        HttpResponse<String> ok = send(url + "/v2/" + REPO + "/manifests/1", bearer, seen);
        assertEquals(200, ok.statusCode(), ok.body());
        for (Digest d : image.layerDigests()) {
          send(url + "/v2/" + REPO + "/blobs/" + d, bearer, seen); // originals: confirmed upstream first
        }
        assertEquals(200, send(url + "/v2/" + REPO + "/tags/list", bearer, seen).statusCode());
        assertEquals(403, send(url + "/v2/bad.test/team/app/manifests/1", bearer, seen).statusCode(),
            "upstream refused the proxy's credentials");
        assertEquals(403, send(url + "/v2/bad.test/team/app/blobs/" + image.layerDigests().get(0), bearer, seen)
            .statusCode());
        int broken = send(url + "/v2/team/broken/manifests/1", bearer, seen).statusCode();
        assertTrue(broken >= 500, "upstream 500: " + broken);
        assertTrue(send(url + "/v2/gone.test/team/app/manifests/1", bearer, seen).statusCode() >= 500);
        assertEquals(401, send(url + "/v2/" + REPO + "/manifests/1", "Basic " + b64("alice:" + PASSWORD), seen)
            .statusCode(), "a client trying the upstream password");
        assertEquals(401, send(url + "/token", "Basic " + b64("alice:" + WRONG_PASSWORD), seen).statusCode());

        HttpResponse<String> metrics = send(admin + "/metrics", null, seen);
        assertTrue(metrics.body().contains("squash_proxy_upstream_requests_total"), "metrics were scraped");
        HttpResponse<String> page = send(admin + "/", null, seen);
        assertTrue(page.body().contains("good"), page.body());
      }
    } finally {
      root.detachAppender(logs);
      ours.setLevel(ourLevel);
      System.setProperty("user.home", home);
      upstream.stop();
    }
    for (ILoggingEvent e : logs.list) {
      if (e.getLoggerName().startsWith("org.eclipse.jetty") || e.getLoggerName().contains("wiremock")
          || e.getLoggerName().equals("WireMock")) {
        continue; // the test's upstream, not the proxy
      }
      seen.add("log: " + e.getFormattedMessage() + (e.getThrowableProxy() == null ? ""
          : ThrowableProxyUtil.asString(e.getThrowableProxy())));
    }
    assertTrue(seen.stream().anyMatch(s -> s.contains("upstream denied access")), "the 401 path ran");
    assertTrue(seen.stream().anyMatch(s -> s.startsWith("log: ")), "logs were captured");
    for (String s : seen) {
      for (String canary : canaries()) {
        if (s.contains(canary)) {
          fail("credential " + canary + " leaked in: " + s);
        }
      }
    }
  }

  private HttpResponse<String> send(String url, String authorization, List<String> seen) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    seen.add(url + " -> " + r.statusCode() + " " + r.headers().map() + " " + r.body());
    return r;
  }
}
