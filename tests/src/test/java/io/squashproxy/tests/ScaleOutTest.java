package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.NginxBalancer;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.S3Server;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 7: three proxy processes sharing one S3 bucket (s3proxy in this JVM, reached over HTTP by the real
 * AWS SDK client in each proxy) behind nginx round-robin, in front of a real Distribution registry with its
 * access log on. They must act as one cache: one squash per image however the requests are spread, the
 * same manifest digest from every replica, a stopped replica skipped, and a replica with an empty disk
 * serving a cached image from the bucket without asking upstream.
 *
 * <p>Each test pulls its own repository (the same image pushed under several names), so each starts cold.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ScaleOutTest {
  static final Pattern SQUASHES = Pattern.compile("(?m)^squash_proxy_squashes_total(?:\\{[^}]*})? ([0-9.E]+)$");

  static ImageBuilder image;
  /** Layers of its own, so that the burst's upstream fetches are not answered by blobs already shared. */
  static ImageBuilder burstImage;
  static AccessLogRegistry registry;
  static S3Server s3;
  static final List<ProxyProcess> replicas = new ArrayList<>();
  static NginxBalancer lb;
  static Scratch work;
  static String config;

  @BeforeAll
  static void setUp() throws Exception {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners");
    Env.requireTools("docker-registry", "umoci", "skopeo", "nginx");
    long t0 = System.nanoTime();
    work = Scratch.create("scale-out");
    image = ImageBuilder.create("scale");
    // Incompressible content, so a squash takes long enough for concurrent pulls to overlap it.
    image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
    image.layer("big", "head -c 3000000 /dev/urandom > data/big1 && echo one > data/a");
    image.layer("replace", "rm data/big1 && head -c 1000000 /dev/urandom > data/big2 && echo two > data/a");
    burstImage = ImageBuilder.create("burst");
    burstImage.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
    burstImage.layer("big", "head -c 3000000 /dev/urandom > data/burst && echo burst > data/a");
    registry = AccessLogRegistry.start();
    for (String repo : List.of("scale/seq", "scale/stop", "scale/restart")) {
      Skopeo.copy(image.skopeoRef(), registry.ref(repo + ":1"), "--format", "v2s2");
    }
    Skopeo.copy(burstImage.skopeoRef(), registry.ref("scale/burst:1"), "--format", "v2s2");
    long t1 = System.nanoTime();
    s3 = S3Server.start();
    config = s3.storageYaml("replicas/", "20s") + "limits:\n  concurrentSquashes: 2\n";
    // Started side by side: three JVMs starting one after another would cost the CI budget twice over.
    List<CompletableFuture<ProxyProcess>> starting = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      starting.add(CompletableFuture.supplyAsync(() -> ProxyProcess.start(registry.url(), config)));
    }
    for (CompletableFuture<ProxyProcess> f : starting) {
      replicas.add(f.join());
    }
    lb = NginxBalancer.start(replicas.stream().map(ProxyProcess::host).toList());
    System.out.printf("scale-out setup: image and pushes %.1fs, s3proxy + 3 replicas + nginx %.1fs%n",
        (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);
  }

  @AfterAll
  static void tearDown() {
    for (AutoCloseable c : new AutoCloseable[] {lb, () -> replicas.forEach(ProxyProcess::close), s3, registry,
        image, burstImage, work}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  /** {@code squash_proxy_squashes_total} from the replica's admin {@code /metrics}. */
  static long squashes(ProxyProcess p) {
    try {
      HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create(p.adminUrl() + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
      Matcher m = SQUASHES.matcher(r.body());
      if (!m.find()) {
        throw new AssertionError("no squash_proxy_squashes_total in /metrics:\n" + r.body());
      }
      return (long) Double.parseDouble(m.group(1));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  static long totalSquashes() {
    return replicas.stream().filter(ProxyProcess::isAlive).mapToLong(ScaleOutTest::squashes).sum();
  }

  static String logs() {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < replicas.size(); i++) {
      b.append("\n--- replica ").append(i).append(" ---\n").append(replicas.get(i).tail());
    }
    return b.append("\n--- nginx ---\n").append(lb == null ? "" : lb.errorLog()).toString();
  }

  /** The manifest digest every live replica serves for the tag, asked of each directly. */
  static Set<String> digestsByReplica(String repo) {
    Set<String> digests = new TreeSet<>();
    for (ProxyProcess p : replicas) {
      if (p.isAlive()) {
        RawManifest m = p.manifest(repo, "1");
        assertEquals(m.sha256(), m.digestHeader());
        digests.add(m.sha256());
      }
    }
    return digests;
  }

  @Test
  @Order(1)
  void sequentialPullsBySkopeoAndDockerSquashOnceAndEveryReplicaServesTheSameDigest() {
    long before = totalSquashes();
    Path layout = work.resolve("seq-layout");
    Skopeo.copy(lb.ref("scale/seq:1"), "oci:" + layout + ":seq");
    Skopeo.copy(lb.ref("scale/seq:1"), "oci:" + layout + ":again");
    String served;
    try (Dockerd docker = Dockerd.start()) {
      docker.docker("pull", lb.image("scale/seq:1"));
      String repoDigest = docker.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}",
          lb.image("scale/seq:1")).stdout().strip();
      served = repoDigest.substring(repoDigest.indexOf('@') + 1);
      assertEquals("1", docker.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}",
          lb.image("scale/seq:1")).stdout().strip(), "docker got the squashed image");
    }
    assertEquals(1, totalSquashes() - before, "three replicas, many requests, one squash" + logs());
    assertEquals(Set.of(served), digestsByReplica("scale/seq"), "every replica serves docker's digest");
  }

  @Test
  @Order(2)
  void twentyConcurrentColdPullsSquashAtMostOncePerReplica() throws Exception {
    long before = totalSquashes();
    int clients = 20;
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    CyclicBarrier start = new CyclicBarrier(clients);
    List<Future<ProxyConcurrencyTest.Pull>> pulls = new ArrayList<>();
    try {
      for (int i = 0; i < clients; i++) {
        pulls.add(pool.submit(() -> {
          HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(10)).build();
          start.await();
          return ProxyConcurrencyTest.pull(http, lb.url() + "/v2/scale/burst");
        }));
      }
      Set<String> digests = new TreeSet<>();
      for (Future<ProxyConcurrencyTest.Pull> f : pulls) {
        ProxyConcurrencyTest.Pull p = f.get(5, TimeUnit.MINUTES);
        assertEquals(1, p.layers());
        digests.add(p.manifestDigest());
      }
      assertEquals(1, digests.size(), "every client got the same image: " + digests);
      long made = totalSquashes() - before;
      System.out.println("scale-out: " + clients + " concurrent cold pulls made " + made + " squash(es)");
      assertTrue(made >= 1 && made <= 3, "at most one squash per replica, got " + made + logs());
      assertEquals(digests, digestsByReplica("scale/burst"));
      // Claimed before its layers are fetched, the squash also fetches each upstream layer about once.
      java.util.Map<String, Integer> gets = registry.blobGets("scale/burst");
      System.out.println("scale-out: upstream blob GETs for the burst " + gets.values());
      assertFalse(gets.isEmpty(), "the burst image's own layers came from upstream");
      assertTrue(gets.values().stream().allMatch(n -> n <= 3), "each layer fetched upstream at most once per "
          + "replica, not once per client: " + gets);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  @Order(3)
  void stoppingAReplicaMidPullDoesNotFailARetriedPull() throws Exception {
    Path log = work.resolve("stop-pull.log");
    Path layout = work.resolve("stop-layout");
    Process pull = Proc.of("skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
        lb.ref("scale/stop:1"), "oci:" + layout + ":first").startBackground(log);
    Thread.sleep(300); // the cold pull is squashing by now (upstream GETs, then the squash)
    replicas.get(1).close();
    boolean done = pull.waitFor(3, TimeUnit.MINUTES);
    assertTrue(done, "the interrupted pull ended");
    System.out.println("scale-out: the pull during the stop exited " + pull.exitValue());
    // Whether the first attempt survived depends on which replica held its connection: a retry must work,
    // and so must every pull after it while the replica stays down.
    for (int i = 0; i < 3; i++) {
      Skopeo.copy(lb.ref("scale/stop:1"), "oci:" + layout + ":retry" + i);
    }
    assertEquals(1, digestsByReplica("scale/stop").size(), "the live replicas agree" + logs());
  }

  @Test
  @Order(4)
  void aReplicaRestartedWithAnEmptyDiskServesTheCachedImageFromTheBucketWithoutUpstream() {
    Skopeo.copy(lb.ref("scale/restart:1"), "oci:" + work.resolve("restart-layout") + ":warm");
    String digest = digestsByReplica("scale/restart").iterator().next();
    int upstreamBefore = registry.requests("scale/restart", AccessLogRegistry.PROXY_AGENT).size();

    replicas.get(0).close();
    ProxyProcess fresh = ProxyProcess.start(registry.url(), config); // a new, empty cache directory
    replicas.set(0, fresh);
    Skopeo.copy(fresh.ref("scale/restart:1"), "oci:" + work.resolve("restart-layout") + ":fresh");
    RawManifest m = fresh.manifest("scale/restart", "1");
    assertEquals(digest, m.sha256());
    assertEquals(0, squashes(fresh), "nothing was squashed again" + fresh.tail());
    List<AccessLogRegistry.Request> after = registry.requests("scale/restart", AccessLogRegistry.PROXY_AGENT);
    assertEquals(upstreamBefore, after.size(),
        "the restarted replica did not contact upstream: " + after.subList(upstreamBefore, after.size()));
  }
}
