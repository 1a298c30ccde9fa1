package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.ThrottledRelay;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #13 item 3 end to end: Debian's {@code docker-registry} with {@code notifications.endpoints} pointing
 * at the proxy's admin listener. A push with skopeo makes the registry send its events; the proxy squashes
 * the image ahead of demand, so the first pull through the proxy (shipped config, {@code wait: 0s}) is
 * already squashed, served from the cache, and makes no upstream blob request. A wrong secret gets 401, a
 * malformed body 400.
 *
 * <p>The registry runs the {@code notifications:} section of deploy/compose's {@code registry-notifications.yml}
 * as shipped (only the endpoint's host is ours), and the proxy the secret deploy/compose's
 * {@code squash-proxy.yaml} defaults to: the compose wiring itself is what is tested, short of docker compose and
 * the {@code registry:2} image, which this machine cannot fetch.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SquashAheadOfDemandTest {

  @Test
  void aPushedImageIsSquashedBeforeItsFirstPull() throws Exception {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners");
    Env.requireTools("docker-registry", "umoci", "skopeo");
    Path compose = Env.repoRoot().resolve("deploy/compose");
    String secret = composeSecret(compose);
    int notifyPort = Proc.freePort();
    try (ImageBuilder image = ImageBuilder.create("ahead");
        AccessLogRegistry registry = AccessLogRegistry.startNotifyingAs(compose.resolve("registry-notifications.yml"),
            "http://127.0.0.1:" + notifyPort + "/notifications");
        ProxyProcess proxy = ProxyProcess.startShippedWait(registry.url(),
            "admin:\n  notifications:\n    secret: " + secret + "\n", null, null);
        // The registry was told of this port before the proxy's admin port was known: relay it there.
        ThrottledRelay toAdmin = ThrottledRelay.start(notifyPort, proxy.adminUrl().substring("http://".length()), 0);
        Scratch work = Scratch.create("ahead")) {
      image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
      image.layer("big", "head -c 2000000 /dev/urandom > data/big");
      image.layer("gone", "rm data/big && echo done > data/done");
      Skopeo.copy(image.skopeoRef(), registry.ref("demo/t:v1"), "--format", "v2s2");

      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      while (proxy.squashes("demo/t").isEmpty()) {
        assertTrue(System.nanoTime() < deadline, "no squash after the push:\n" + proxy.tail());
        Thread.sleep(50); // the registry delivers its events on its own schedule
      }
      Map<String, Integer> before = registry.blobGets("demo/t");

      Skopeo.copy(proxy.ref("demo/t:v1"), "dir:" + work.resolve("pulled"), "--src-tls-verify=false");
      assertEquals(1, Skopeo.inspectRaw(proxy.ref("demo/t:v1")).path("layers").size(), "the first pull is squashed");
      assertEquals(before, registry.blobGets("demo/t"), "served from the cache: no upstream blob request");
      assertEquals(1, proxy.squashes("demo/t").size(), "squashed once");

      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> wrong = http.send(HttpRequest.newBuilder(URI.create(proxy.adminUrl() + "/notifications"))
          .header("Authorization", "Bearer wrong").header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"events\":[]}")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, wrong.statusCode());
      HttpResponse<String> malformed = http.send(HttpRequest.newBuilder(URI.create(proxy.adminUrl()
              + "/notifications")).header("Authorization", "Bearer " + secret)
          .header("Content-Type", "application/vnd.docker.distribution.events.v1+json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"events\": 7}")).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(400, malformed.statusCode(), malformed.body());
    }
  }

  /**
   * The secret compose starts the proxy with (the default of {@code SQUASH_NOTIFICATIONS_SECRET} in its
   * squash-proxy.yaml), checked to be the one the registry's config sends and the one compose.yaml passes.
   */
  private static String composeSecret(Path compose) throws java.io.IOException {
    Matcher m = Pattern.compile("secret: \\$\\{SQUASH_NOTIFICATIONS_SECRET:-([^}]+)\\}")
        .matcher(Files.readString(compose.resolve("squash-proxy.yaml")));
    assertTrue(m.find(), "squash-proxy.yaml: admin.notifications.secret from SQUASH_NOTIFICATIONS_SECRET");
    String secret = m.group(1);
    assertTrue(Files.readString(compose.resolve("registry-notifications.yml")).contains("Bearer " + secret),
        "registry-notifications.yml sends the proxy's secret");
    assertTrue(Files.readString(compose.resolve("compose.yaml")).contains("SQUASH_NOTIFICATIONS_SECRET:-" + secret),
        "compose.yaml passes the same default");
    return secret;
  }
}
