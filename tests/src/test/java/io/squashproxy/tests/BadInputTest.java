package io.squashproxy.tests;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.KeepAliveClient;
import io.squashproxy.tests.support.LoadRun;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RegistryPush;
import io.squashproxy.tests.support.Scratch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Broken images in a real Distribution registry, pulled through the proxy process by skopeo: the pull fails
 * with the proxy's message (image, layer, entry) in skopeo's own error output, and the proxy keeps serving
 * good images with nothing left in its cache's temporary directory. Plus a request the proxy's HTTP decoder
 * refuses, against the process as shipped.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class BadInputTest {
  static final LayerBuilder BASE = layer().dir("etc").file("etc/os-release", "ID=test").file("bin/sh", "elf");

  @Test
  void skopeoSeesWhyABrokenImageIsRefusedAndTheProxyKeepsServing() throws Exception {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo");
    byte[] random = new byte[200_000];
    new Random(3).nextBytes(random);
    byte[] tar = layer().file("data/first", "x").file("data/random.bin", random).tar();
    byte[] gz = Blobs.gzip(tar);
    TestImage truncated = TestImage.oci().layer(BASE)
        .rawLayer(tar, Arrays.copyOf(gz, gz.length / 2), MediaTypes.OCI_LAYER_GZIP).layer(layer().file("z", "z"))
        .build();
    TestImage escaping = TestImage.oci().layer(BASE).layer(layer().file("ok", "x").file("a/../../etc/passwd", "evil"))
        .build();
    TestImage good = TestImage.oci().layer(BASE).layer(layer().file("app", "ok")).build();
    try (DistributionRegistry registry = DistributionRegistry.start();
        Scratch work = Scratch.create("bad-input")) {
      RegistryPush.push(registry.host(), "bad/truncated", "1", truncated);
      RegistryPush.push(registry.host(), "bad/escaping", "1", escaping);
      RegistryPush.push(registry.host(), "good/app", "1", good);
      try (ProxyProcess proxy = ProxyProcess.start("http://" + registry.host())) {
        Proc.Result t = skopeo(proxy.ref("bad/truncated:1"), work.resolve("t"));
        assertNotEquals(0, t.exitCode(), t.describe());
        String tOut = t.output();
        assertTrue(tOut.contains("manifest invalid") || tOut.contains("MANIFEST_INVALID"), tOut);
        assertTrue(tOut.contains("bad/truncated@" + truncated.manifestDigest()), tOut);
        assertTrue(tOut.contains("layer 1 (" + truncated.layerDigests().get(1) + ")"), tOut);
        assertTrue(tOut.contains("'data/random.bin'"), tOut);

        Proc.Result e = skopeo(proxy.ref("bad/escaping:1"), work.resolve("e"));
        assertNotEquals(0, e.exitCode(), e.describe());
        assertTrue(e.output().contains("'a/../../etc/passwd'") && e.output().contains("escapes the root"),
            e.output());

        // A request line over 8 KiB: 414 in the envelope, from the process as shipped.
        int port = Integer.parseInt(proxy.host().substring(proxy.host().indexOf(':') + 1));
        try (KeepAliveClient c = new KeepAliveClient("127.0.0.1", port)) {
          KeepAliveClient.Response r = c.request("GET", "/v2/good/app/manifests/" + "x".repeat(9000), Map.of());
          assertEquals(414, r.status());
          assertTrue(new String(r.body()).contains("\"code\":\"UNSUPPORTED\""), new String(r.body()));
        }

        Proc.Result ok = skopeo(proxy.ref("good/app:1"), work.resolve("g"));
        assertEquals(0, ok.exitCode(), ok.describe());
        assertTrue(proxy.isAlive());
        assertTrue(proxy.log().contains("refusing bad/truncated@"), proxy.tail());
        Path tmp = LoadRun.cacheDirOf(proxy).resolve("tmp");
        if (Files.exists(tmp)) {
          try (Stream<Path> s = Files.walk(tmp)) {
            assertEquals(List.of(), s.filter(Files::isRegularFile).toList(), "temporary files left in the cache");
          }
        }
      }
    }
  }

  static Proc.Result skopeo(String src, Path dir) {
    return Proc.of("skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", src,
        "oci:" + dir + ":t").timeout(Duration.ofMinutes(2)).run();
  }
}
