package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.config.ConfigLoader;
import io.squashproxy.proxy.app.SquashProxy;
import io.squashproxy.tests.support.Containerd;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Podman;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The client files of {@code deploy/clients/}, as shipped with only the proxy's address filled in, make docker,
 * containerd and podman pull a Docker Hub name ({@code mirrortest:1}) through the proxy. The proxy's Docker Hub
 * upstream is a local registry holding a three-layer {@code library/mirrortest:1}; there is no internet, so a
 * pull succeeds only through the mirror, and one layer instead of three shows it was squashed on the way.
 */
class ClientMirrorConfigsTest {

  private static final String PLACEHOLDER = "squash-proxy.example.internal:5000";
  private static final String HUB_NAME = "docker.io/library/mirrortest:1";

  private static Path clients;
  private static Scratch scratch;
  private static DistributionRegistry registry;
  private static SquashProxy proxy;
  private static String proxyHost;

  @BeforeAll
  static void start() throws Exception {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("deploy/clients"))) {
      dir = dir.getParent();
    }
    assertTrue(dir != null, "no deploy/clients above " + Path.of("").toAbsolutePath());
    clients = dir.resolve("deploy/clients");

    Env.requireRoot("umoci keeping owners; dockerd, containerd and rootful podman");
    Env.requireTools("docker-registry", "skopeo", "umoci");
    Path busybox = Env.busybox();
    scratch = Scratch.create("mirrors");
    registry = DistributionRegistry.start(true);
    try (ImageBuilder image = ImageBuilder.create("t")) {
      image.layer("busybox", rootfs -> {
        try {
          Files.createDirectories(rootfs.resolve("bin"));
          Files.copy(busybox, rootfs.resolve("bin/busybox"), StandardCopyOption.COPY_ATTRIBUTES);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }).layer("add", "mkdir -p srv && head -c 1048576 /dev/urandom > srv/bloat && echo hi > srv/hello")
          .layer("remove", "rm srv/bloat");
      Skopeo.copy(image.skopeoRef(), registry.ref("library/mirrortest:1"), "--format", "v2s2");
    }
    proxy = SquashProxy.start(ConfigLoader.parse("""
        listen: 127.0.0.1:0
        admin:
          listen: 127.0.0.1:0
        upstreams:
          - name: docker.io
            url: http://%s
            dockerHub: true
        cache:
          directory: %s
        squash:
          rules:
            # mode all: the 1 MiB this image wastes is within auto's default slack; the wait: the first pull
            # (the one each client makes) is the squashed image
            - {match: "**", mode: all, wait: 10m}
        """.formatted(registry.host(), scratch.resolve("cache")), "test", Map.of()));
    proxyHost = "127.0.0.1:" + proxy.address().getPort();
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (proxy != null) {
        proxy.close();
      }
    } finally {
      try {
        if (registry != null) {
          registry.close();
        }
      } finally {
        if (scratch != null) {
          scratch.close();
        }
      }
    }
  }

  /** A shipped client file with the proxy's address in place of the placeholder. */
  private static String shipped(String file) throws IOException {
    String text = Files.readString(clients.resolve(file));
    assertTrue(text.contains(PLACEHOLDER), file + " names the proxy as " + PLACEHOLDER);
    return text.replace(PLACEHOLDER, proxyHost);
  }

  @Test
  void dockerWithTheShippedDaemonJsonPullsDockerHubNamesThroughTheProxy() throws IOException {
    Env.requireTools("dockerd", "docker", "containerd", "runc");
    Path d = scratch.dir("dockerd");
    Path daemonJson = d.resolve("daemon.json");
    Files.writeString(daemonJson, shipped("docker/daemon.json"));
    Path socket = d.resolve("docker.sock");
    Path log = d.resolve("dockerd.log");
    Process dockerd = Proc.of("dockerd", "--config-file", daemonJson.toString(),
        "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false", "--storage-driver=vfs",
        "--data-root", d.resolve("root").toString(), "--exec-root", d.resolve("exec").toString(),
        "--pidfile", d.resolve("docker.pid").toString(), "-H", "unix://" + socket).startBackground(log);
    try {
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (docker(socket, d, "version").exitCode() != 0) {
        assertTrue(dockerd.isAlive() && System.nanoTime() < deadline, "dockerd did not start:\n"
            + Proc.readQuietly(log));
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
      }
      assertTrue(docker(socket, d, "info").stdout().contains("http://" + proxyHost), "docker info lists the mirror");
      Proc.Result pull = docker(socket, d, "pull", "mirrortest:1");
      assertEquals(0, pull.exitCode(), "docker pull mirrortest:1 through the mirror: " + pull.describe()
          + "\n" + registry.log());
      assertEquals("1", docker(socket, d, "image", "inspect", "--format", "{{len .RootFS.Layers}}",
          "mirrortest:1").stdout().strip(), "the squashed image");
    } finally {
      Proc.stop(dockerd, Duration.ofSeconds(20));
    }
  }

  private static Proc.Result docker(Path socket, Path dir, String... args) {
    String[] cmd = new String[args.length + 3];
    cmd[0] = "docker";
    cmd[1] = "-H";
    cmd[2] = "unix://" + socket;
    System.arraycopy(args, 0, cmd, 3, args.length);
    return Proc.of(cmd).env("DOCKER_CONFIG", dir.resolve("cli").toString()).timeout(Duration.ofMinutes(3)).run();
  }

  @Test
  void containerdWithTheShippedHostsTomlPullsDockerHubNamesThroughTheProxy() throws IOException {
    Path hostsDir = scratch.dir("certs.d");
    Files.createDirectories(hostsDir.resolve("docker.io"));
    Files.writeString(hostsDir.resolve("docker.io/hosts.toml"), shipped("containerd/hosts.toml"));
    try (Containerd c = Containerd.start()) {
      c.pull(HUB_NAME, "--hosts-dir", hostsDir.toString());
      assertEquals(1, c.manifest(HUB_NAME).get("layers").size(), "the squashed image");
    }
  }

  @Test
  void podmanWithTheShippedRegistriesConfPullsDockerHubNamesThroughTheProxy() throws IOException {
    Path conf = scratch.resolve("registries.conf");
    Files.writeString(conf, shipped("podman/registries.conf"));
    try (Podman p = Podman.create()) {
      Proc.Result pull = p.cli("pull", HUB_NAME).env("CONTAINERS_REGISTRIES_CONF", conf.toString()).run();
      assertEquals(0, pull.exitCode(), "podman pull through the mirror: " + pull.describe());
      assertEquals("1", p.podman("image", "inspect", "--format", "{{len .RootFS.Layers}}", HUB_NAME).stdout()
          .strip(), "the squashed image");
    }
  }
}
