package io.squashproxy.proxy.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.admin.AdminHandler;
import io.squashproxy.proxy.admin.AdminInitializer;
import io.squashproxy.proxy.admin.ProxyMeters;
import io.squashproxy.proxy.server.ProxyServer;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.SquashAhead;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ManualExecutor;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code squash-proxy warm} against a real admin listener: the images it names are queued and squashed ahead of
 * demand; a wrong secret, no secret and an unreachable proxy get messages naming what to fix.
 */
class WarmCommandTest {
  private static final String SECRET = "0123456789abcdef-secret";

  @TempDir
  Path dir;
  private ProxyHarness h;
  private ManualExecutor squashPool;
  private ProxyServer admin;
  private String url;

  @BeforeEach
  void start() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    up.push("demo/t", "v1", TestImage.docker().layer(LayerBuilder.layer().file("a", "1"))
        .layer(LayerBuilder.layer().file("b", "2")).build());
    squashPool = new ManualExecutor();
    h = new ProxyHarness(up, dir.resolve("cache"), new Rules(List.of(SquashRule.all("**").withWait(Duration.ZERO))),
        squashPool);
    SquashAhead ahead = new SquashAhead(h.service, h.upstreams, 10, h.stats.registry());
    var meters = ProxyMeters.create();
    admin = ProxyServer.start(new InetSocketAddress("127.0.0.1", 0), new AdminInitializer(() -> new AdminHandler(
        meters, () -> true, h.io, () -> "", () -> ahead, SECRET)), 1);
    url = "http://127.0.0.1:" + admin.address().getPort();
  }

  @AfterEach
  void stop() {
    admin.close();
    h.close();
  }

  @Test
  void theImagesItNamesAreQueuedAndSquashedBeforeTheirFirstPull() throws Exception {
    CliRun cli = new CliRun();
    assertEquals(Main.EXIT_OK, cli.run("warm", "--admin", url, "--secret", SECRET, "demo/t:v1"), cli.err.toString());
    assertEquals("queued 1\n", cli.out.toString());
    squashPool.runNext();
    assertFalse(h.service.manifest(h.route("demo/t"), "v1").join().squashPending(),
        "the first pull after the warm request is squashed");
  }

  @Test
  void aWrongSecretIsReportedWithTheProxysAnswer() {
    CliRun cli = new CliRun();
    assertEquals(Main.EXIT_BAD_INPUT, cli.run("warm", "--admin", url, "--secret", "wrong", "demo/t:v1"));
    assertTrue(cli.err.toString().contains("/warm answered 401"), cli.err.toString());
  }

  @Test
  void withoutASecretItSaysHowToGiveOne() {
    CliRun cli = new CliRun();
    assertEquals(Main.EXIT_USAGE, cli.run("warm", "--admin", url, "--secret", "", "demo/t:v1"));
    assertTrue(cli.err.toString().contains("--secret or set SQUASH_NOTIFICATIONS_SECRET"), cli.err.toString());
  }

  @Test
  void anUnreachableProxyIsNamed() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    CliRun cli = new CliRun();
    String nowhere = "http://127.0.0.1:" + port;
    assertEquals(Main.EXIT_BAD_INPUT, cli.run("warm", "--admin", nowhere, "--secret", SECRET, "demo/t:v1"));
    assertTrue(cli.err.toString().contains(nowhere), cli.err.toString());
  }
}
