package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Containerd;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Podman;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.ThrottledRelay;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #13 item 1 with real clients: docker, podman, ctr and skopeo pull an image through a fresh proxy
 * with the shipped config (the first pull gets the original image) in front of a Distribution registry that
 * trickles (a {@link ThrottledRelay} sending at most 4 MiB/s). When upstream has sent all but the last
 * 1.5 MiB of the image's blobs, the client must already hold several MiB of the 8 MB layer (counted by a
 * second relay between proxy and client): it was streamed, not fetched whole first. Each pull succeeds
 * (every client verifies every digest; skopeo's files are checked here too), and upstream saw one GET per
 * blob.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class StreamThroughClientsTest {
  static final long TRICKLE = 4L << 20;
  static final long BIG = 8_000_000;
  static final List<String> CLIENTS = List.of("docker", "podman", "ctr", "skopeo");

  static ImageBuilder image;
  static AccessLogRegistry registry;
  static ThrottledRelay slowUpstream;
  static long blobBytes;

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners");
    Env.requireTools("docker-registry", "umoci", "skopeo");
    image = ImageBuilder.create("stream");
    image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
    image.layer("big", "head -c " + BIG + " /dev/urandom > data/big");
    image.layer("small", "echo done > data/done");
    registry = AccessLogRegistry.start();
    for (String c : CLIENTS) {
      Skopeo.copy(image.skopeoRef(), registry.ref("stream/" + c + ":1"), "--format", "v2s2");
    }
    RawManifest m = registry.manifest("stream/docker", "1");
    blobBytes = m.json().path("config").path("size").asLong();
    for (var l : m.json().path("layers")) {
      blobBytes += l.path("size").asLong();
    }
    slowUpstream = ThrottledRelay.start(registry.host(), TRICKLE);
  }

  @AfterAll
  static void tearDown() {
    if (slowUpstream != null) {
      slowUpstream.close();
    }
    if (registry != null) {
      registry.close();
    }
    if (image != null) {
      image.close();
    }
  }

  /** What the client held when upstream had 1.5 MiB of the image's blobs left to send. */
  private static long pullAndMeasure(String client, ClientPull pull) throws Exception {
    String repo = "stream/" + client;
    try (ProxyProcess proxy = ProxyProcess.startShippedWait("http://" + slowUpstream.host(), null, null, null);
        ThrottledRelay toClient = ThrottledRelay.start(proxy.host(), 0)) {
      long start = slowUpstream.relayed();
      long mark = start + blobBytes - (3L << 19);
      AtomicLong atMark = new AtomicLong(-1);
      slowUpstream.onRelayed(total -> {
        if (total >= mark) {
          atMark.compareAndSet(-1, toClient.relayed());
        }
      });
      pull.pull(toClient.host() + "/" + repo + ":1");
      assertTrue(atMark.get() >= 0, "upstream sent the blobs");
      Map<String, Integer> gets = registry.blobGets(repo);
      RawManifest m = registry.manifest(repo, "1");
      for (String d : m.layerDigests()) {
        assertEquals(1, gets.getOrDefault(d, 0), client + ": one upstream GET for " + d + ": " + gets);
      }
      return atMark.get();
    }
  }

  private interface ClientPull {
    void pull(String image) throws Exception;
  }

  private static void assertStreamed(String client, long clientHad) {
    assertTrue(clientHad >= 4L << 20, client + " held " + clientHad + " bytes when upstream had 1.5 MiB of "
        + blobBytes + " left to send: the big layer was not streamed");
  }

  @Test
  void skopeo() throws Exception {
    try (Scratch work = Scratch.create("stream-skopeo")) {
      long had = pullAndMeasure("skopeo", ref -> Skopeo.copy("docker://" + ref, "dir:" + work.resolve("img"),
          "--src-tls-verify=false"));
      assertStreamed("skopeo", had);
      RawManifest m = registry.manifest("stream/skopeo", "1");
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (String d : m.layerDigests()) {
        byte[] got = Files.readAllBytes(work.resolve("img").resolve(d.substring("sha256:".length())));
        assertEquals(d, "sha256:" + HexFormat.of().formatHex(sha.digest(got)), "byte-exact");
      }
    }
  }

  @Test
  void docker() throws Exception {
    Env.requireTools("dockerd", "docker");
    try (Dockerd d = Dockerd.start()) {
      assertStreamed("docker", pullAndMeasure("docker", ref -> d.docker("pull", ref)));
    }
  }

  @Test
  void podman() throws Exception {
    try (Podman p = Podman.create()) {
      assertStreamed("podman", pullAndMeasure("podman", ref -> p.podman("pull", "--tls-verify=false", ref)));
    }
  }

  @Test
  void ctr() throws Exception {
    Env.requireTools("containerd", "ctr");
    try (Containerd c = Containerd.start()) {
      assertStreamed("ctr", pullAndMeasure("ctr", ref -> c.pull(ref)));
    }
  }
}
