package io.squashproxy.proxy.server;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.SquashLimits;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code limits.maxPathsPerSquash}: an image with more paths than the limit is served as it is (the original
 * manifest), with a WARN line naming the image, the limit and the key; one within it is squashed.
 */
class PathLimitPassThroughTest {
  @TempDir
  Path dir;

  @Test
  void anImageOverThePathLimitPassesThroughWithALogLine() throws Exception {
    InMemoryRegistry upstream = new InMemoryRegistry("up");
    LayerBuilder many = layer().dir("app");
    for (int i = 0; i < 30; i++) {
      many.file("app/f" + i, "x" + i);
    }
    Digest big = upstream.push("big/app", "1", TestImage.oci().layer(layer().dir("etc").file("etc/os-release", "x"))
        .layer(many).build());
    Digest small = upstream.push("small/app", "1", TestImage.oci().layer(layer().dir("etc")
        .file("etc/os-release", "x")).layer(layer().file("app", "ok")).build());
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    try (ProxyHarness harness = new ProxyHarness(upstream, dir.resolve("cache"), ProxyHarness.squashAll(), 1L << 30,
        SquashLimits.of(Long.MAX_VALUE, 20));
        LiveProxy proxy = new LiveProxy(harness, 30);
        LogCapture log = new LogCapture(Level.WARN, "io.squashproxy.proxy.service.SquashRunner")) {
      HttpResponse<byte[]> r = get(http, proxy, "/v2/big/app/manifests/1");
      assertEquals(200, r.statusCode());
      assertEquals(big, Digest.sha256(r.body()), "the original manifest");
      List<String> warnings = log.problems();
      assertTrue(warnings.stream().anyMatch(w -> w.contains("not squashing big/app@" + big)
          && w.contains("more than 20 paths") && w.contains("limits.maxPathsPerSquash")), warnings.toString());

      HttpResponse<byte[]> s = get(http, proxy, "/v2/small/app/manifests/1");
      assertEquals(200, s.statusCode());
      assertNotEquals(small, Digest.sha256(s.body()), "an image within the limit is squashed");
    }
  }

  private static HttpResponse<byte[]> get(HttpClient http, LiveProxy proxy, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(proxy.url() + path)).header("Accept", MediaTypes.OCI_MANIFEST)
        .timeout(Duration.ofSeconds(60)).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
  }
}
