package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
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
import io.squashproxy.tests.support.SampleImages;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #15 with ordinary clients: the proxy squashes the sample image with every hard case ({@link
 * SampleImages#rich}: whiteouts, an opaque dir, hard links, symlinks, devices, setuid, security.capability and
 * binary xattrs), plus a 4 MiB file added and deleted, into one <b>eStargz</b> layer ({@code mode: all,
 * compression: estargz} with prioritised files), and docker, podman, ctr (overlayfs) and skopeo pull it as any
 * gzip layer. Each root filesystem is the original's plus exactly the two entries the format adds at the root,
 * {@code stargz.index.json} (the TOC) and {@code .prefetch.landmark}: nothing else differs. The served layer
 * carries both eStargz annotations with the right values, and a second proxy with an empty cache makes the
 * same digests.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class EstargzClientsTest {
  static final String TAG = "1";
  static final String TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";
  static final String UNCOMPRESSED_SIZE = "io.containers.estargz.uncompressed-size";
  /** What the format adds at the root of the layer (with prioritised files: the prefetch landmark). */
  static final List<String> ESTARGZ_ENTRIES = List.of(".prefetch.landmark", "stargz.index.json");
  static final String RULES = String.join("\n",
      "squash:",
      "  rules:",
      "    - match: '**'",
      "      mode: all",
      "      compression: estargz",
      "      estargz: {chunkSize: 1MiB, prioritize: [/bin/busybox, /etc/passwd]}",
      "logging: {accessLog: true}",
      "");

  static Scratch work;
  static ImageBuilder image;
  static AccessLogRegistry registry;
  static ProxyProcess proxy;
  static Path reference;
  static final List<AutoCloseable> closeLater = new ArrayList<>();

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners and devices; the daemons");
    Env.requireTools("docker-registry", "umoci", "skopeo", "getfattr", "setcap", "setfattr");
    work = Scratch.create("estargz-clients");
    image = SampleImages.rich("estargz")
        .layer("add a 4 MiB file", "head -c 4194304 /dev/urandom > tmp/big.bin")
        .layer("delete it", "rm tmp/big.bin");
    registry = AccessLogRegistry.start();
    Skopeo.copy(image.skopeoRef(), registry.ref("docker/app:" + TAG), "--format", "v2s2");
    for (String client : List.of("podman", "ctr", "skopeo", "again")) {
      Skopeo.copy(image.skopeoRef(), registry.ref(client + "/app:" + TAG), "--format", "oci");
    }
    reference = Skopeo.unpack(registry.ref("skopeo/app:" + TAG), work.resolve("reference"));
    SampleImages.checkRichReference(reference, true);
    proxy = ProxyProcess.startDefault(registry.url(), RULES);
  }

  @AfterAll
  static void tearDown() {
    List<AutoCloseable> all = new ArrayList<>(closeLater);
    all.add(proxy);
    all.add(registry);
    all.add(image);
    all.add(work);
    Cleanup.closeAll(all);
  }

  /**
   * The squashed manifest the proxy serves for REPO: one gzip layer with both eStargz annotations; the TOC
   * digest is the sha256 of the {@code stargz.index.json} the client unpacked into {@code rootfs}, the
   * uncompressed size the length of the layer's tar.
   */
  static RawManifest assertEstargzLayer(String repo, Path rootfs) {
    RawManifest served = proxy.manifest(repo, TAG);
    assertEquals(1, served.layerDigests().size(), "squashed manifest: " + served.json());
    assertEquals(1, proxy.squashes(repo).size(), proxy.tail());
    JsonNode layer = served.json().path("layers").get(0);
    assertTrue(layer.path("mediaType").asText().endsWith("tar.gzip") || layer.path("mediaType").asText()
        .endsWith("tar+gzip"), "an ordinary gzip layer: " + layer);
    JsonNode annotations = layer.path("annotations");
    try (InputStream toc = Files.newInputStream(rootfs.resolve("stargz.index.json"))) {
      assertEquals("sha256:" + RootfsTree.sha256(toc), annotations.path(TOC_DIGEST).asText(), layer.toString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    byte[] blob = proxy.get("/v2/" + repo + "/blobs/" + layer.path("digest").asText(), null).body();
    assertEquals(layer.path("size").asLong(), blob.length);
    assertEquals(Long.toString(tarSize(blob)), annotations.path(UNCOMPRESSED_SIZE).asText(), layer.toString());
    return served;
  }

  private static long tarSize(byte[] gzip) {
    try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(gzip))) {
      return in.transferTo(java.io.OutputStream.nullOutputStream());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * {@code actual} is the reference under {@code o}, except for the format's own entries at its root: exactly
   * {@link #ESTARGZ_ENTRIES}, regular files, are only in {@code actual}.
   */
  static void assertOriginalPlusEstargzEntries(Path actual, RootfsTree.Options o) {
    RootfsTree expected = RootfsTree.scan(reference);
    RootfsTree got = RootfsTree.scan(actual);
    List<String> want = ESTARGZ_ENTRIES.stream().map(p -> "only in " + got.root() + ": " + p + " (file)").toList();
    assertEquals(want, RootfsTree.diff(expected, got, o), "the differences to the original image");
    assertEquals(1, got.get(".prefetch.landmark").size(), "the landmark is one byte");
    assertTrue(expected.nodes().size() > 60, "compared only " + expected.nodes().size() + " paths");
  }

  @Test
  void dockerPullsTheEstargzLayerAsGzip() {
    Dockerd d = Dockerd.start();
    closeLater.add(d);
    String name = proxy.image("docker/app:" + TAG);
    d.docker("pull", name);
    Path rootfs = d.exportRootfs(name, work.resolve("docker"));
    assertOriginalPlusEstargzEntries(rootfs, Dockerd.exportComparison());
    RawManifest served = assertEstargzLayer("docker/app", rootfs);
    assertEquals("application/vnd.docker.distribution.manifest.v2+json", served.mediaType());
  }

  @Test
  void podmanPullsTheEstargzLayerAsGzip() {
    Podman p = Podman.create();
    closeLater.add(p);
    String name = proxy.image("podman/app:" + TAG);
    p.podman("pull", "--tls-verify=false", name);
    Path rootfs = p.mount(name);
    assertOriginalPlusEstargzEntries(rootfs, Containerd.comparison());
    assertEstargzLayer("podman/app", rootfs);
  }

  @Test
  void ctrPullsTheEstargzLayerIntoOverlayfs() {
    Containerd c = Containerd.start();
    closeLater.add(c);
    String name = proxy.image("ctr/app:" + TAG);
    c.pull(name);
    Path rootfs = c.mount(name);
    try {
      assertOriginalPlusEstargzEntries(rootfs, Containerd.comparison());
      RawManifest served = assertEstargzLayer("ctr/app", rootfs);
      assertEquals(served.sha256(), c.imageDigest(name));
    } finally {
      c.unmount(rootfs);
    }
  }

  @Test
  void skopeoCopiesTheEstargzLayerWithItsAnnotations() {
    Path layout = work.resolve("skopeo-layout");
    Skopeo.copy(proxy.ref("skopeo/app:" + TAG), "oci:" + layout + ":img");
    Path rootfs = Skopeo.umociUnpack(layout, "img", work.resolve("skopeo-bundle"));
    assertOriginalPlusEstargzEntries(rootfs, RootfsTree.Options.exact());
    RawManifest served = assertEstargzLayer("skopeo/app", rootfs);
    JsonNode copied = Skopeo.inspectRaw("oci:" + layout + ":img");
    assertEquals(served.json().path("layers"), copied.path("layers"), "skopeo kept the layer and its annotations");
  }

  @Test
  void anotherProxyProcessMakesTheSameBytes() {
    RawManifest first = proxy.manifest("again/app", TAG);
    try (ProxyProcess other = ProxyProcess.startDefault(registry.url(), RULES)) {
      RawManifest again = other.manifest("again/app", TAG);
      assertEquals(1, other.squashes("again/app").size(), "it squashed the image itself");
      assertEquals(first.sha256(), again.sha256(), "the same image and rule give the same manifest digest");
      assertEquals(first.layerDigests(), again.layerDigests());
      assertEquals(first.json().path("layers").get(0).path("annotations"),
          again.json().path("layers").get(0).path("annotations"));
    }
  }
}
