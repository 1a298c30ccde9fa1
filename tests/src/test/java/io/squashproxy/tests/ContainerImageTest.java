package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Buildah;
import io.squashproxy.tests.support.DebianStandIns;
import io.squashproxy.tests.support.DockerContainer;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.MavenRepoOverlay;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The container image: the repository's {@code Dockerfile} built for real, run for real, pulled through.
 *
 * <p>There is no Docker Hub here, so the Dockerfile's base images ({@code maven:3.9-eclipse-temurin-17},
 * {@code eclipse-temurin:17-jre}) are replaced through its {@code BUILD_IMAGE} and {@code RUNTIME_IMAGE}
 * build arguments by {@linkplain DebianStandIns stand-ins made from Debian packages} (debootstrap, then
 * openjdk-17 and maven with apt). {@code buildah bud --isolation chroot} builds the Dockerfile from the
 * repository root, with its {@code .dockerignore}; Maven inside the build reaches Maven Central, with the
 * machine's local repository mounted as a {@linkplain MavenRepoOverlay copy-on-write overlay} so that it
 * downloads little. The image goes into a {@linkplain Dockerd dockerd} of the test's own as a docker-archive.
 *
 * <p>Two containers run from it: one as shipped ({@code --network none}, the baked config, the image's own
 * HEALTHCHECK against 127.0.0.1:5001; with a read-only root filesystem and a writable /tmp, as
 * deploy/kubernetes runs it), which must run as uid 10001, keep its cache on the /data volume, turn healthy
 * and stop cleanly on {@code docker stop}; and one on the host network with flags pointing it at a
 * Distribution registry of the test's (on free 127.0.0.1 ports), through which skopeo and docker pull a
 * three-layer image and get one layer.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerImageTest {

  static final String IMAGE = "localhost/squash-proxy:test";

  static Scratch work;
  static Buildah buildah;
  static Dockerd dockerd;
  static AccessLogRegistry registry;
  static ImageBuilder sample;
  /** The image as shipped: default command, {@code --network none}. */
  static DockerContainer shipped;
  /** On the host network, flags pointing it at the test's registry. */
  static DockerContainer proxy;
  static int proxyPort;

  @BeforeAll
  static void setUp() throws IOException {
    Env.requireRoot("debootstrap, buildah and dockerd");
    Env.requireTools("debootstrap", "buildah", "dockerd", "docker", "containerd", "runc", "docker-registry",
        "skopeo", "umoci");
    Path root = repoRoot();
    long t0 = System.nanoTime();
    work = Scratch.create("ctr");
    buildah = Buildah.start();

    DebianStandIns.Images bases = DebianStandIns.build(buildah, work);
    long t1 = System.nanoTime();
    System.out.printf("[container] stand-in base images (buildah %s storage): %s; %d s%n",
        buildah.storageDriver(), bases.timings(), seconds(t0, t1));

    Map<String, String> args = new LinkedHashMap<>();
    args.put("BUILD_IMAGE", bases.build());
    args.put("RUNTIME_IMAGE", bases.runtime());
    List<String> volumes = new ArrayList<>();
    try (MavenRepoOverlay m2 = MavenRepoOverlay.mount(work)) {
      if (m2 != null) {
        volumes.add(m2.path() + ":/root/.m2/repository");
      }
      buildah.bud(root, args, volumes, IMAGE, Duration.ofMinutes(15));
    }
    long t2 = System.nanoTime();
    System.out.printf("[container] buildah bud: %d s%n", seconds(t1, t2));

    Path archive = buildah.pushDockerArchive(IMAGE, work.resolve("image.tar"), IMAGE);
    buildah.close();
    buildah = null;
    dockerd = Dockerd.start();
    dockerd.docker("load", "--quiet", "--input", archive.toString());
    Files.delete(archive);
    long t3 = System.nanoTime();
    System.out.printf("[container] into dockerd (%s): %d s%n", dockerd.storageDriver(), seconds(t2, t3));

    // As shipped: its own network namespace, so its fixed ports 5000 and 5001 clash with nothing; a read-only
    // root filesystem with a writable /tmp, as deploy/kubernetes runs it.
    shipped = DockerContainer.run(dockerd, List.of("--network", "none", "--read-only", "--tmpfs",
        "/tmp:rw,exec,mode=1777"), IMAGE);

    registry = AccessLogRegistry.start();
    sample = ImageBuilder.create("three");
    sample.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
    sample.layer("add", "head -c 1000000 /dev/urandom > data/big && echo one > data/a");
    sample.layer("delete", "rm data/big && echo two > data/a");
    Skopeo.copy(sample.skopeoRef(), registry.ref("demo/app:1"), "--format", "v2s2");

    proxyPort = Proc.freePort();
    int adminPort = Proc.freePort();
    proxy = DockerContainer.run(dockerd, List.of("--network", "host",
            "--env", "SQUASH_HEALTHCHECK_URL=http://127.0.0.1:" + adminPort + "/healthz"),
        IMAGE, "serve", "--config", "/etc/squash-proxy/config.yaml",
        "--listen", "127.0.0.1:" + proxyPort, "--admin-listen", "127.0.0.1:" + adminPort,
        "--upstream", registry.url(),
        "--squash-wait", "10m"); // the first pull waits for its squash: one layer from the first request
    proxy.awaitHttp200("http://127.0.0.1:" + proxyPort + "/v2/", Duration.ofSeconds(60));
    System.out.printf("[container] containers up: %d s; total %d s%n", seconds(t3, System.nanoTime()),
        seconds(t0, System.nanoTime()));
  }

  @AfterAll
  static void tearDown() {
    List<AutoCloseable> all = new ArrayList<>();
    all.add(proxy);
    all.add(shipped);
    all.add(dockerd);
    all.add(registry);
    all.add(sample);
    all.add(buildah);
    all.add(work);
    Cleanup.closeAll(all);
  }

  @Test
  @Order(1)
  void imageConfigIsNonRootWithVolumePortsHealthcheckAndEntrypoint() throws IOException {
    JsonNode config = ImageArchive.JSON.readTree(dockerd.docker("image", "inspect", IMAGE).stdout())
        .get(0).path("Config");
    assertEquals("10001:10001", config.path("User").asText(), "USER");
    assertEquals(Set.of("5000/tcp", "5001/tcp"), names(config.path("ExposedPorts")), "EXPOSE");
    assertEquals(Set.of("/data"), names(config.path("Volumes")), "VOLUME");
    assertEquals("/data", config.path("WorkingDir").asText(), "WORKDIR");

    JsonNode health = config.path("Healthcheck");
    assertEquals("CMD", health.path("Test").path(0).asText(), "HEALTHCHECK exec form: " + health);
    assertTrue(health.path("Test").toString().contains("\"HealthCheck\""), "HEALTHCHECK runs the probe: " + health);
    assertTrue(health.path("Interval").asLong() > 0 && health.path("Retries").asInt() > 0, health.toString());

    String entrypoint = config.path("Entrypoint").toString();
    assertTrue(entrypoint.contains("exec java $JAVA_OPTS -jar /opt/squash-proxy/squash-proxy.jar"), entrypoint);
    assertEquals("[\"serve\",\"--config\",\"/etc/squash-proxy/config.yaml\"]", config.path("Cmd").toString());
    assertTrue(config.path("Env").toString().contains("-XX:MaxRAMPercentage="), config.path("Env").toString());
  }

  @Test
  @Order(2)
  void shippedContainerRunsAsUid10001WithTheBakedConfigAndTheCacheOnTheVolume() {
    // The registry API on 0.0.0.0:5000 and the admin listener on 0.0.0.0:5001 (asked from inside: its own
    // network namespace). The image has no curl; its health probe takes a URL.
    awaitInside(shipped, "http://127.0.0.1:5000/v2/", Duration.ofSeconds(60));
    shipped.execOk("java", "-cp", "/opt/squash-proxy/healthcheck", "HealthCheck", "http://127.0.0.1:5001/readyz");

    assertEquals("10001", shipped.execOk("id", "-u").strip(), "uid of a process in the container");
    assertEquals("10001", shipped.execOk("id", "-g").strip(), "gid of a process in the container");
    // exec in the entrypoint: java itself is PID 1 (and gets docker stop's SIGTERM), as uid 10001.
    String cmdline = shipped.execOk("cat", "/proc/1/cmdline").replace('\0', ' ').strip();
    assertTrue(cmdline.startsWith("java -XX:MaxRAMPercentage="), "PID 1: " + cmdline);
    assertTrue(cmdline.endsWith("-jar /opt/squash-proxy/squash-proxy.jar serve --config /etc/squash-proxy/config.yaml"),
        "PID 1: " + cmdline);
    String status = shipped.execOk("cat", "/proc/1/status");
    assertTrue(status.lines().anyMatch(l -> l.matches("Uid:\\s+10001\\s+10001\\s+10001\\s+10001")), status);

    String log = shipped.logs();
    assertTrue(log.contains("listening on /0.0.0.0:5000"), log);
    assertTrue(log.contains("admin on /0.0.0.0:5001"), log);
    assertTrue(log.contains("cache /data"), log);

    // /data is a volume (anonymous here), owned by 10001, and the cache lives there.
    JsonNode mounts = shipped.inspect().path("Mounts");
    boolean dataVolume = false;
    for (JsonNode m : mounts) {
      dataVolume |= m.path("Destination").asText().equals("/data") && m.path("Type").asText().equals("volume");
    }
    assertTrue(dataVolume, "a volume at /data: " + mounts);
    assertEquals("10001:10001", shipped.execOk("stat", "-c", "%u:%g", "/data").strip());
    String cacheDirs = shipped.execOk("ls", "/data");
    assertTrue(cacheDirs.contains("blobs") && cacheDirs.contains("tags"), "cache under /data: " + cacheDirs);
    assertEquals("", shipped.execOk("find", "/data", "!", "-user", "10001").strip(), "files not owned by 10001");
  }

  @Test
  @Order(3)
  void pullThroughTheContainerGivesOneLayer() {
    String host = "127.0.0.1:" + proxyPort;
    JsonNode manifest = Skopeo.inspectRaw("docker://" + host + "/demo/app:1");
    assertEquals(1, manifest.path("layers").size(), "layers through the container: " + manifest);

    Path pulled = work.resolve("pulled");
    Skopeo.copy("docker://" + host + "/demo/app:1", "oci:" + pulled + ":app");
    JsonNode viaSkopeo = Skopeo.inspectRaw("oci:" + pulled + ":app");
    assertEquals(1, viaSkopeo.path("layers").size(), viaSkopeo.toString());

    dockerd.docker("pull", "--quiet", host + "/demo/app:1");
    String layers = dockerd.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", host + "/demo/app:1")
        .stdout().strip();
    assertEquals("1", layers, "layers of the image docker pulled through the container");
    assertEquals("two", dockerd.docker("run", "--rm", "--network", "none", host + "/demo/app:1",
        "/bin/busybox", "cat", "/data/a").stdout().strip());

    String log = proxy.logs();
    assertTrue(log.contains("squashed demo/app@") && log.contains("layers 3 -> 1"), log);
    assertFalse(registry.requests("demo/app", AccessLogRegistry.PROXY_AGENT).isEmpty(),
        "the container fetched from the registry: " + registry.requests());
    assertEquals("", proxy.execOk("find", "/data", "!", "-user", "10001").strip(), "cache files not owned by 10001");
    assertFalse(proxy.execOk("find", "/data/blobs", "-type", "f").isBlank(), "blobs cached under /data");
  }

  @Test
  @Order(4)
  void healthcheckTurnsHealthy() {
    for (DockerContainer c : List.of(shipped, proxy)) {
      String status = c.awaitHealth(Duration.ofSeconds(90));
      assertEquals("healthy", status, "State.Health: " + c.inspect().path("State").path("Health") + "\nlog:\n"
          + c.logTail());
    }
  }

  @Test
  @Order(5)
  void dockerStopEndsTheProxyCleanly() {
    long t = System.nanoTime();
    dockerd.docker("stop", "--time", "30", shipped.id());
    long ms = (System.nanoTime() - t) / 1_000_000;
    JsonNode state = shipped.inspect().path("State");
    assertFalse(state.path("Running").asBoolean(), state.toString());
    assertTrue(ms < 20_000, "docker stop took " + ms + " ms: SIGTERM did not reach java");
    String log = shipped.logs();
    assertTrue(log.contains("squash-proxy stopping"), log);
    // 143 = 128 + SIGTERM, the JVM's exit after its shutdown hooks ran (or 0); not 137, a SIGKILL after the
    // timeout.
    int exit = state.path("ExitCode").asInt();
    assertTrue(exit == 143 || exit == 0, "exit code " + exit + ": " + state);
  }

  /** Polls {@code url} from inside the container with the image's health probe until it answers 200. */
  private static void awaitInside(DockerContainer c, String url, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    Proc.Result r;
    do {
      r = c.exec("java", "-XX:TieredStopAtLevel=1", "-cp", "/opt/squash-proxy/healthcheck", "HealthCheck", url);
      if (r.exitCode() == 0) {
        return;
      }
      sleep(500);
    } while (System.nanoTime() < deadline);
    throw new AssertionError(url + " inside the container: " + r.describe() + "\nlog:\n" + c.logTail());
  }

  private static Set<String> names(JsonNode object) {
    Set<String> out = new TreeSet<>();
    for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
      out.add(it.next());
    }
    return out;
  }

  /** The repository root: the tests module's parent, holding the Dockerfile. */
  private static Path repoRoot() {
    List<Path> candidates = new ArrayList<>();
    String basedir = System.getProperty("basedir");
    if (basedir != null) {
      candidates.add(Path.of(basedir).toAbsolutePath().getParent());
    }
    Path cwd = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    candidates.add(cwd.getParent());
    candidates.add(cwd);
    for (Path c : candidates) {
      if (c != null && Files.isRegularFile(c.resolve("Dockerfile")) && Files.isRegularFile(c.resolve("pom.xml"))) {
        return c;
      }
    }
    throw new AssertionError("no Dockerfile beside a pom.xml in " + candidates);
  }

  private static long seconds(long from, long to) {
    return TimeUnit.NANOSECONDS.toSeconds(to - from);
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
