package io.squashproxy.proxy.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The assembled proxy on real sockets: registry listener, admin listener, metrics. */
class SquashProxyTest {
  @TempDir
  Path dir;

  @Test
  void servesPullsAndReportsThemOnTheAdminListener() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("library/app", "1.0", TestImage.docker().layer(LayerBuilder.layer().file("a", "1"))
        .layer(LayerBuilder.layer().file("b", "2")).build());
    ProxyConfig config = ConfigLoader.parse(String.join("\n",
        "listen: 127.0.0.1:0",
        "admin: {listen: 127.0.0.1:0}",
        "upstreams: [{name: up, url: 'https://registry-1.docker.io'}]",
        "cache: {directory: '" + dir.resolve("cache") + "'}",
        // mode all squashes these small images that waste nothing; the wait makes the first pull squashed
        "squash: {rules: [{match: '**', mode: all, wait: 10m}]}"), "test.yaml", Map.of());
    HttpClient http = HttpClient.newHttpClient();
    try (SquashProxy proxy = SquashProxy.start(config, s -> up, Ticker.systemTicker())) {
      String registry = "http://127.0.0.1:" + proxy.address().getPort();
      String admin = "http://127.0.0.1:" + proxy.adminAddress().getPort();
      assertEquals(200, get(http, admin + "/healthz").statusCode());
      assertEquals(200, get(http, admin + "/readyz").statusCode());

      HttpResponse<String> m = get(http, registry + "/v2/app/manifests/1.0");
      assertEquals(200, m.statusCode());
      assertEquals(404, get(http, registry + "/v2/app/manifests/2.0").statusCode());

      HttpResponse<String> metrics = get(http, admin + "/metrics");
      assertEquals(200, metrics.statusCode());
      assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
      String body = metrics.body();
      assertTrue(body.contains("squash_proxy_squashes_total 1.0"), body);
      assertTrue(body.contains("squash_proxy_requests_seconds_count{method=\"GET\",route=\"manifest\","
          + "status=\"200\"} 1"), body);
      assertTrue(body.contains("status=\"404\"} 1"), body);
      assertTrue(body.contains("squash_proxy_upstream_requests_total{method=\"get\",type=\"blob\"} 3.0"), body);
      assertTrue(body.contains("squash_proxy_squash_duration_seconds_count 1"), body);
      assertTrue(body.contains("squash_proxy_upstream_request_duration_seconds_count{method=\"get\","
          + "outcome=\"ok\",type=\"blob\"} 3"), body);
      assertTrue(body.contains("squash_proxy_upstream_request_duration_seconds_count{method=\"head\","
          + "outcome=\"ok\",type=\"manifest\"} 2"), body);
      assertTrue(body.contains("jvm_memory_used_bytes"), body);
      assertTrue(body.contains("netty_allocator_memory_used_bytes"), body);
      assertTrue(body.contains("squash_proxy_cache_size_bytes{type=\"blob\"}"), body);
      assertEquals(404, get(http, admin + "/nope").statusCode());

      HttpResponse<String> page = get(http, admin + "/");
      assertEquals(200, page.statusCode());
      assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
      assertTrue(page.body().contains("1 squashed images cached"), page.body());
      assertTrue(page.body().contains("up/library/app"), page.body());
      assertTrue(page.body().contains("2 &rarr; 1"), page.body());
      assertTrue(page.body().contains("<svg id=\"chart\""), page.body());
      assertTrue(!page.body().contains("<script"), "readable without JavaScript");

      // A hard link to a lower layer's file: the one-pass squash cannot write it, two passes do, and count.
      assertTrue(body.contains("squash_proxy_squashes_two_passes_total 0.0"), body);
      up.push("library/linked", "1", TestImage.docker().layer(LayerBuilder.layer().file("bin/tool", "x"))
          .layer(LayerBuilder.layer().hardlink("bin/alias", "bin/tool")).build());
      assertEquals(200, get(http, registry + "/v2/linked/manifests/1").statusCode());
      String after = get(http, admin + "/metrics").body();
      assertTrue(after.contains("squash_proxy_squashes_total 2.0"), after);
      assertTrue(after.contains("squash_proxy_squashes_two_passes_total 1.0"), after);
    }
  }

  private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
