package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.Containerd;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Podman;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shipped default, {@code mode: auto}, with real clients: two apps built on one base, each with a build
 * step that writes 3 MiB to /tmp and a last step that deletes it, pushed to a real Distribution registry. Through
 * the proxy each becomes three layers: the base and the app layer, kept byte-identical (they waste nothing),
 * and the build and clean-up layers squashed into one.
 * Every client pulls both into one store: the second pull reuses the base the node already has (no client
 * request for its blob; docker prints {@code Already exists}), and both root filesystems are the originals'.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class AutoSquashClientsTest {
  static final String TAG = "1";

  static Scratch work;
  static ImageBuilder base;
  static ImageBuilder appA;
  static ImageBuilder appB;
  static AccessLogRegistry registry;
  static ProxyProcess proxy;
  static Path referenceA;
  static Path referenceB;
  static final List<AutoCloseable> closeLater = new ArrayList<>();

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners; the daemons");
    Env.requireTools("docker-registry", "umoci", "skopeo");
    work = Scratch.create("auto-clients");
    base = ImageBuilder.create("base").layer("base: busybox and a 2 MiB library", String.join("\n",
        "mkdir -p bin usr/lib tmp etc",
        "cp " + Env.busybox() + " bin/busybox",
        "for a in sh ls cat; do ln -s busybox bin/$a; done",
        "head -c 2097152 /dev/urandom > usr/lib/libbig.so",
        "echo 'ID=test' > etc/os-release",
        "chmod 1777 tmp"));
    appA = app("a");
    appB = app("b");
    registry = AccessLogRegistry.start();
    for (String client : List.of("docker", "podman", "ctr", "skopeo")) {
      String format = client.equals("docker") ? "v2s2" : "oci";
      Skopeo.copy(appA.skopeoRef(), registry.ref(client + "/a:" + TAG), "--format", format);
      Skopeo.copy(appB.skopeoRef(), registry.ref(client + "/b:" + TAG), "--format", format);
    }
    referenceA = Skopeo.unpack(registry.ref("skopeo/a:" + TAG), work.resolve("reference-a"));
    referenceB = Skopeo.unpack(registry.ref("skopeo/b:" + TAG), work.resolve("reference-b"));
    proxy = ProxyProcess.startDefault(registry.url(), "logging: {accessLog: true}\n");
  }

  private static ImageBuilder app(String name) {
    return ImageBuilder.from(base, name)
        .layer("app " + name, "mkdir -p app && echo " + name + " > app/name")
        .layer("build " + name, "head -c 3145728 /dev/urandom > tmp/build-" + name + ".o")
        // Leaves a file of its own: otherwise the squashed layers of both apps are only tmp/, the same bytes
        // whenever both were built within one second, and a client rightly skips the second one.
        .layer("clean " + name, "rm tmp/build-" + name + ".o && echo " + name + " > app/built");
  }

  @AfterAll
  static void tearDown() {
    List<AutoCloseable> all = new ArrayList<>(closeLater);
    all.add(proxy);
    all.add(registry);
    all.add(appB);
    all.add(appA);
    all.add(base);
    all.add(work);
    Cleanup.closeAll(all);
  }

  /**
   * What the proxy serves for REPO: the base and the app layer unchanged (they waste nothing), the build layer
   * (wasted entirely by the next) and the clean-up layer squashed into one.
   */
  static RawManifest assertBaseKept(String repo) {
    RawManifest original = registry.manifest(repo, TAG);
    RawManifest served = proxy.manifest(repo, TAG);
    assertEquals(4, original.layerDigests().size());
    assertNotEquals(original.sha256(), served.sha256());
    assertEquals(3, served.layerDigests().size(), "auto keeps base and app, squashes the rest: " + served.json());
    assertEquals(original.layerDigests().subList(0, 2), served.layerDigests().subList(0, 2),
        "the base and app layers are kept as they are");
    assertTrue(served.layerBytes() < original.layerBytes() - (3 << 20), "the 3 MiB build output is gone");
    List<ProxyProcess.Squash> squashes = proxy.squashes(repo);
    assertEquals(1, squashes.size(), proxy.tail());
    assertEquals(3, squashes.get(0).layersAfter());
    return served;
  }

  /** The client never asked the proxy for the base blob of the second image: it had it from the first. */
  static void assertBaseReused(String repo, RawManifest first, RawManifest second) {
    String baseDigest = second.layerDigests().get(0);
    assertEquals(first.layerDigests().get(0), baseDigest, "both images are served on the same base layer");
    Map<String, Integer> gets = proxy.clientBlobGets(repo);
    assertNull(gets.get(baseDigest), repo + ": the client fetched the shared base again: " + gets);
    assertEquals(1, gets.get(second.layerDigests().get(2)), repo + ": its squashed layer, once: " + gets
        + "; first " + first.layerDigests() + ", second " + second.layerDigests());
  }

  static void assertSameRootfs(Path expected, Path actual, RootfsTree.Options o) {
    int compared = RootfsTree.assertIdentical(expected, actual, o);
    assertTrue(compared > 8, "compared only " + compared + " paths");
  }

  @Test
  void dockerReusesTheBaseOfTheFirstImage() {
    Dockerd d = Dockerd.start();
    closeLater.add(d);
    String a = proxy.image("docker/a:" + TAG);
    String b = proxy.image("docker/b:" + TAG);
    d.docker("pull", a);
    RawManifest first = assertBaseKept("docker/a");
    String out = d.docker("pull", b).stdout();
    RawManifest second = assertBaseKept("docker/b");
    assertTrue(out.contains("Already exists"), "docker pull of the second image:\n" + out);
    assertBaseReused("docker/b", first, second);
    assertEquals("3", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", b).stdout().strip());
    assertSameRootfs(referenceA, d.exportRootfs(a, work.resolve("docker-a")), Dockerd.exportComparison());
    assertSameRootfs(referenceB, d.exportRootfs(b, work.resolve("docker-b")), Dockerd.exportComparison());
  }

  @Test
  void podmanReusesTheBaseOfTheFirstImage() {
    Podman p = Podman.create();
    closeLater.add(p);
    String a = proxy.image("podman/a:" + TAG);
    String b = proxy.image("podman/b:" + TAG);
    p.podman("pull", "--tls-verify=false", a);
    RawManifest first = assertBaseKept("podman/a");
    p.podman("pull", "--tls-verify=false", b);
    assertBaseReused("podman/b", first, assertBaseKept("podman/b"));
    assertSameRootfs(referenceA, p.mount(a), Containerd.comparison());
    assertSameRootfs(referenceB, p.mount(b), Containerd.comparison());
  }

  @Test
  void ctrReusesTheBaseOfTheFirstImage() {
    Containerd c = Containerd.start();
    closeLater.add(c);
    String a = proxy.image("ctr/a:" + TAG);
    String b = proxy.image("ctr/b:" + TAG);
    c.pull(a);
    RawManifest first = assertBaseKept("ctr/a");
    c.pull(b);
    assertBaseReused("ctr/b", first, assertBaseKept("ctr/b"));
    for (String[] image : new String[][] {{a, "a"}, {b, "b"}}) {
      Path rootfs = c.mount(image[0]);
      try {
        assertSameRootfs(image[1].equals("a") ? referenceA : referenceB, rootfs, Containerd.comparison());
      } finally {
        c.unmount(rootfs);
      }
    }
  }

  @Test
  void analyzeReadsTheImageThroughTheUpstreamAndAgreesWithTheSquash() throws Exception {
    String json = io.squashproxy.tests.support.Proc.of(Env.java().toString(), "-jar", Env.squashJar().toString(),
        "analyze", "skopeo/a:" + TAG, "--upstream", registry.url(), "--json").ok().stdout();
    com.fasterxml.jackson.databind.JsonNode image = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json)
        .get("images").get(0);
    assertEquals(registry.manifest("skopeo/a", TAG).sha256(), image.get("digest").asText());
    assertEquals(3 << 20, image.get("wastedBytes").asLong(), "the build output, all of it");
    assertEquals(3 << 20, image.get("layers").get(2).get("wastedBy").get("3").asLong(), "hidden by the clean step");
    assertEquals(2, image.get("modes").get("auto").get("keptLayers").asInt());
    assertEquals(3, image.get("modes").get("auto").get("layers").asInt());
    assertEquals("tmp/build-a.o", image.get("largestWasted").get(0).get("path").asText());
  }

  @Test
  void anotherProxyProcessMakesTheSameBytes() {
    // A second process with an empty cache (a replica, or this one after losing its disk) squashes on its own.
    RawManifest first = proxy.manifest("skopeo/b", TAG);
    try (ProxyProcess other = ProxyProcess.startDefault(registry.url(), null)) {
      RawManifest again = other.manifest("skopeo/b", TAG);
      assertEquals(first.sha256(), again.sha256(), "the same image and rule give the same manifest digest");
      assertEquals(first.layerDigests(), again.layerDigests());
      assertEquals(1, other.squashes("skopeo/b").size(), "it squashed the image itself");
    }
  }

  @Test
  void skopeoIntoOneLayoutReusesTheBaseOfTheFirstImage() {
    Path layout = work.resolve("node-store");
    Skopeo.copy(proxy.ref("skopeo/a:" + TAG), "oci:" + layout + ":a");
    RawManifest first = assertBaseKept("skopeo/a");
    Skopeo.copy(proxy.ref("skopeo/b:" + TAG), "oci:" + layout + ":b");
    assertBaseReused("skopeo/b", first, assertBaseKept("skopeo/b"));
    assertSameRootfs(referenceA, Skopeo.umociUnpack(layout, "a", work.resolve("bundle-a")),
        RootfsTree.Options.exact());
    assertSameRootfs(referenceB, Skopeo.umociUnpack(layout, "b", work.resolve("bundle-b")),
        RootfsTree.Options.exact());
  }
}
