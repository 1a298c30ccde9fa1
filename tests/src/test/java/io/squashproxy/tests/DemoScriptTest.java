package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Runs {@code deploy/demo.sh} as a user would: it must build the bloated image, show 3 layers before and 1
 * after with fewer bytes, and leave nothing running or on disk. As root with dockerd installed (always in
 * CI) it also pulls with docker, from a daemon started here.
 */
class DemoScriptTest {

  private static final Pattern RESULT = Pattern.compile(
      "^demo result: layers (\\d+) -> (\\d+), compressed bytes (\\d+) -> (\\d+)$", Pattern.MULTILINE);

  @Test
  void demoShowsTheBloatedImageSquashedAndCleansUp() throws IOException {
    Env.requireTools("bash", "docker-registry", "skopeo", "umoci");
    Env.busybox();
    Path jar = Env.squashJar();
    Path demo = repoRoot().resolve("deploy/demo.sh");
    boolean withDocker = Env.ci() || (Env.isRoot() && Env.which("dockerd") != null && Env.which("docker") != null);
    try (Scratch scratch = Scratch.create("demo");
         Dockerd dockerd = withDocker ? Dockerd.start() : null) {
      Path tmp = scratch.dir("tmp");
      Proc proc = Proc.of("bash", demo.toString())
          .env("SQUASH_PROXY_JAR", jar.toString())
          .env("TMPDIR", tmp.toString())
          .env("DEMO_DOCKER", dockerd == null ? "off" : "on")
          .timeout(Duration.ofMinutes(10));
      if (dockerd != null) {
        proc.env("DOCKER_HOST", dockerd.cli().command().get(2));
      }
      Proc.Result r = proc.run();
      String out = r.stdout() + "\n" + r.stderr();
      System.out.println("--- deploy/demo.sh" + (dockerd == null ? "" : " (with docker)") + " ---\n" + out);
      assertEquals(0, r.exitCode(), "demo.sh failed: " + r.describe());

      Matcher m = RESULT.matcher(r.stdout());
      assertTrue(m.find(), "a 'demo result:' line: " + r.describe());
      assertEquals(3, Integer.parseInt(m.group(1)), "layers before");
      assertEquals(2, Integer.parseInt(m.group(2)), "layers after: the base kept, the rest squashed");
      long before = Long.parseLong(m.group(3));
      long after = Long.parseLong(m.group(4));
      assertTrue(before > 64L << 20, "the bloated image carries the 64 MiB file: " + before);
      assertTrue(after * 10 < before, "the squashed image is much smaller: " + before + " -> " + after);

      // The table and the per-layer listing a user reads.
      assertTrue(out.contains("Layers in the registry") && out.contains("Layers through squash-proxy"), out);
      assertTrue(Pattern.compile("(?m)^skopeo, registry directly\\s+3\\s").matcher(out).find(), out);
      // The first pull does not wait for the squash (wait: 0s): the original 3 layers; the next gets the
      // squashed image: the shipped default (auto) keeps the busybox base, which wastes nothing, and squashes
      // the rest.
      assertTrue(Pattern.compile("(?m)^skopeo, squash-proxy \\(first pull\\)\\s+3\\s").matcher(out).find(), out);
      assertTrue(Pattern.compile("(?m)^skopeo, squash-proxy \\(squashed\\)\\s+2\\s").matcher(out).find(), out);
      assertTrue(out.contains("layers 3 -> 2"), "the proxy's squash log line is shown: " + out);
      assertTrue(out.contains("squash_proxy_squashes_total 1.0"), "the metrics are shown: " + out);
      if (dockerd != null) {
        assertTrue(Pattern.compile("(?m)^docker, squash-proxy \\(cached\\)\\s+2\\s").matcher(out).find(), out);
        assertEquals("", dockerd.docker("images", "-q").stdout().strip(), "the demo removed its docker image");
      }

      // Everything it started is stopped, and its work dir is gone.
      assertPortClosed(out, "registry \\(Distribution\\) on 127\\.0\\.0\\.1:(\\d+)");
      assertPortClosed(out, "squash-proxy on 127\\.0\\.0\\.1:(\\d+)");
      assertPortClosed(out, "\\(admin 127\\.0\\.0\\.1:(\\d+)\\)");
      Matcher removed = Pattern.compile("removed (\\S+)").matcher(out);
      assertTrue(removed.find(), out);
      assertFalse(Files.exists(Path.of(removed.group(1))), "work dir removed: " + removed.group(1));
      try (var left = Files.list(tmp)) {
        assertEquals(0, left.count(), "nothing left in TMPDIR");
      }
    }
  }

  private static void assertPortClosed(String out, String regex) {
    Matcher m = Pattern.compile(regex).matcher(out);
    assertTrue(m.find(), "output names the port (" + regex + "): " + out);
    int port = Integer.parseInt(m.group(1));
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
      throw new AssertionError("something still listens on 127.0.0.1:" + port + " after the demo ended");
    } catch (IOException expected) {
      // refused: stopped
    }
  }

  private static Path repoRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isRegularFile(dir.resolve("deploy/demo.sh"))) {
      dir = dir.getParent();
    }
    assertTrue(dir != null, "no deploy/demo.sh above " + Path.of("").toAbsolutePath());
    return dir;
  }
}
