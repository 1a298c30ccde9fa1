package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Containerd;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.Podman;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.SampleImages;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The proxy process ({@code java -jar squash-proxy.jar serve}) in front of a real Distribution registry, pulled
 * from by real clients: skopeo, docker, podman and containerd's ctr. The upstream image is the sample image
 * with every hard case (whiteouts, an opaque dir, hard links, devices, setuid, binary xattrs, and layer shapes
 * docker, containerd and podman refuse), pushed with skopeo as Docker schema2 and as OCI. Each client's
 * pulled image must have one layer and the root filesystem of the original, which is unpacked from the
 * registry directly (skopeo copy + umoci unpack). A second pull must not go upstream for blobs; a pull by the
 * original digest gets the original byte for byte; a keep rule keeps the base layer; a one-layer image passes
 * through; a multi-platform index is rewritten entry by entry.
 *
 * <p>Each client pulls its own repository (the same image pushed under several names), so every client's
 * first pull is the one that makes the proxy squash.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ProxyPullTest {

  static final String TAG = "1";

  static Scratch work;
  static ImageBuilder image;
  static AccessLogRegistry registry;
  static ProxyProcess proxy;
  static Path reference;
  static RawManifest originalV2s2;
  static RawManifest originalOci;
  static Dockerd dockerd;
  static Podman podman;
  static Containerd containerd;
  static final List<AutoCloseable> closeLater = new ArrayList<>();
  static final AtomicInteger runs = new AtomicInteger();

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners and devices; the daemons");
    Env.requireTools("docker-registry", "umoci", "skopeo", "getfattr", "setcap", "setfattr");
    long t0 = System.nanoTime();
    work = Scratch.create("proxy-pull");
    image = SampleImages.rich("rich");
    registry = AccessLogRegistry.start();
    for (String repo : List.of("skopeo/v2s2", "docker/app", "digest/app")) {
      Skopeo.copy(image.skopeoRef(), registry.ref(repo + ":" + TAG), "--format", "v2s2");
    }
    for (String repo : List.of("skopeo/oci", "podman/app", "ctr/app", "mirror/app", "keep/app")) {
      Skopeo.copy(image.skopeoRef(), registry.ref(repo + ":" + TAG), "--format", "oci");
    }
    originalV2s2 = registry.manifest("skopeo/v2s2", TAG);
    originalOci = registry.manifest("skopeo/oci", TAG);
    assertEquals("application/vnd.docker.distribution.manifest.v2+json", originalV2s2.mediaType());
    assertEquals("application/vnd.oci.image.manifest.v1+json", originalOci.mediaType());
    assertTrue(originalV2s2.layerDigests().size() > 1);
    // The reference: the original image, straight from the registry, unpacked by umoci.
    reference = Skopeo.unpack(registry.ref("skopeo/v2s2:" + TAG), work.resolve("reference"));
    SampleImages.checkRichReference(reference, true);
    proxy = ProxyProcess.start(registry.url());
    System.out.printf("[setup] image %d layers, %d bytes compressed; registry %s, proxy %s; %d ms%n",
        originalV2s2.layerDigests().size(), originalV2s2.layerBytes(), registry.host(), proxy.host(),
        ms(t0));
  }

  @AfterAll
  static void tearDown() {
    List<AutoCloseable> all = new ArrayList<>(closeLater);
    all.add(containerd);
    all.add(podman);
    all.add(dockerd);
    all.add(proxy);
    all.add(registry);
    all.add(image);
    all.add(work);
    Cleanup.closeAll(all);
  }

  static synchronized Dockerd dockerd() {
    if (dockerd == null) {
      dockerd = Dockerd.start();
    }
    return dockerd;
  }

  static synchronized Podman podman() {
    if (podman == null) {
      podman = Podman.create();
    }
    return podman;
  }

  static synchronized Containerd containerd() {
    if (containerd == null) {
      containerd = Containerd.start();
    }
    return containerd;
  }

  static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  static Path fresh(String name) {
    return work.resolve(name + "-" + runs.incrementAndGet());
  }

  static void assertSameRootfs(Path expected, Path actual, RootfsTree.Options o) {
    int compared = RootfsTree.assertIdentical(expected, actual, o);
    assertTrue(compared > 60, "compared only " + compared + " paths");
  }

  /** The squashed manifest the proxy serves for REPO:TAG: one layer, same manifest type, its own digest. */
  static RawManifest assertSquashed(String repo, RawManifest original) {
    RawManifest served = proxy.manifest(repo, TAG);
    assertEquals(original.mediaType(), served.mediaType(), "the manifest type must stay the same");
    assertEquals(served.sha256(), served.digestHeader(), "Docker-Content-Digest must be the digest of the body");
    assertNotEquals(original.sha256(), served.sha256());
    assertEquals(1, served.layerDigests().size(), "squashed manifest: " + new String(served.bytes()));
    List<ProxyProcess.Squash> lines = proxy.squashes(repo);
    assertEquals(1, lines.size(), "one squash for " + repo + ":\n" + proxy.tail());
    ProxyProcess.Squash s = lines.get(0);
    assertEquals(original.sha256(), s.source());
    assertEquals(served.sha256(), s.result());
    assertEquals(original.layerDigests().size(), s.layersBefore());
    assertEquals(1, s.layersAfter());
    return served;
  }

  /** No blob was fetched from upstream more than once for this repository. */
  static Map<String, Integer> assertNoBlobFetchedTwice(String repo) {
    Map<String, Integer> gets = registry.blobGets(repo);
    gets.forEach((digest, n) -> assertEquals(1, n, "upstream GETs of " + repo + " blob " + digest + ": " + gets));
    return gets;
  }

  // ---------------------------------------------------------------------------------------------------------
  // 1 and 3: every client pulls one layer with the original rootfs; a second pull stays off upstream's blobs.

  @ParameterizedTest
  @ValueSource(strings = {"v2s2", "oci"})
  void skopeoCopyGetsOneLayerWithTheOriginalRootfsAndTheSecondCopyFetchesNoUpstreamBlob(String format) {
    String repo = "skopeo/" + format;
    RawManifest original = format.equals("v2s2") ? originalV2s2 : originalOci;
    Path layout = fresh("skopeo-" + format);

    long t0 = System.nanoTime();
    Skopeo.copy(proxy.ref(repo + ":" + TAG), "oci:" + layout + ":img");
    long cold = ms(t0);
    RawManifest served = assertSquashed(repo, original);
    JsonNode inspected = Skopeo.inspectRaw(proxy.ref(repo + ":" + TAG));
    assertEquals(1, inspected.get("layers").size(), "skopeo inspect --raw through the proxy");
    assertEquals(served.json(), inspected);

    ImageArchive pulled = ImageArchive.open(layout);
    assertEquals(1, pulled.layers().size());
    assertEquals(served.layerDigests().get(0), pulled.layers().get(0).digest());
    ImageChecks.assertConsistent(pulled);
    assertSameRootfs(reference, Skopeo.umociUnpack(layout, "img", fresh("bundle")), RootfsTree.Options.exact());
    Map<String, Integer> firstGets = assertNoBlobFetchedTwice(repo);
    int before = registry.blobGetCount(repo);
    int allBefore = registry.requests(repo, AccessLogRegistry.PROXY_AGENT).size();

    t0 = System.nanoTime();
    Path again = fresh("skopeo-again-" + format);
    Skopeo.copy(proxy.ref(repo + ":" + TAG), "oci:" + again + ":img");
    long warm = ms(t0);
    assertEquals(before, registry.blobGetCount(repo), "the second copy must not fetch any blob upstream");
    assertEquals(allBefore, registry.requests(repo, AccessLogRegistry.PROXY_AGENT).size(),
        "within the tag TTL the second copy makes no upstream request at all");
    assertEquals(1, proxy.squashes(repo).size(), "the second copy must not squash again");
    assertEquals(served.layerDigests(), List.of(ImageArchive.open(again).layers().get(0).digest()));

    System.out.printf("[skopeo %s] layers %d -> 1, compressed %d -> %d bytes; cold copy %d ms, warm copy %d ms;"
        + " upstream blob GETs %d (%s), then +0%n", format, original.layerDigests().size(), original.layerBytes(),
        served.layerBytes(), cold, warm, before, firstGets.values());
  }

  @Test
  void dockerPullGetsOneLayerWithTheOriginalRootfsRunsItAndPullsAgainWithoutUpstreamBlobs() {
    Dockerd d = dockerd();
    String repo = "docker/app";
    String name = proxy.image(repo + ":" + TAG);

    long t0 = System.nanoTime();
    d.docker("pull", name);
    long cold = ms(t0);
    RawManifest served = assertSquashed(repo, originalV2s2);
    assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", name).stdout().strip());
    assertEquals(proxy.image(repo) + "@" + served.sha256(),
        d.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", name).stdout().strip(),
        "docker records the digest the proxy served");
    assertSameRootfs(reference, d.exportRootfs(name, fresh("docker-export")), Dockerd.exportComparison());
    assertEquals("hi", d.docker("run", "--rm", "--network", "none", name).stdout().strip(),
        "the squashed image runs its entrypoint and cmd");
    Map<String, Integer> firstGets = assertNoBlobFetchedTwice(repo);
    int before = registry.blobGetCount(repo);
    int allBefore = registry.requests(repo, AccessLogRegistry.PROXY_AGENT).size();

    d.docker("rmi", name);
    t0 = System.nanoTime();
    d.docker("pull", name);
    long warm = ms(t0);
    assertEquals(before, registry.blobGetCount(repo), "docker pull after rmi must not fetch any blob upstream");
    assertEquals(allBefore, registry.requests(repo, AccessLogRegistry.PROXY_AGENT).size(),
        "within the tag TTL docker's second pull makes no upstream request at all");
    assertEquals(1, proxy.squashes(repo).size());
    assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", name).stdout().strip());

    // Pinned to the digest it was given: served from the proxy's cache, nothing upstream.
    d.docker("rmi", name);
    String pinned = proxy.image(repo + "@" + served.sha256());
    d.docker("pull", pinned);
    assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", pinned).stdout().strip());
    assertEquals(allBefore, registry.requests(repo, AccessLogRegistry.PROXY_AGENT).size(),
        "a pull by the squashed digest makes no upstream request");

    System.out.printf("[docker] storage %s; layers %d -> 1; cold pull %d ms, pull after rmi %d ms; upstream blob"
        + " GETs %d (%s), then +0%n", d.storageDriver(), originalV2s2.layerDigests().size(), cold, warm, before,
        firstGets.values());
  }

  @Test
  void podmanPullGetsOneLayerWithTheOriginalRootfs() {
    Podman p = podman();
    String repo = "podman/app";
    String name = proxy.image(repo + ":" + TAG);

    long t0 = System.nanoTime();
    p.podman("pull", "--tls-verify=false", name);
    long cold = ms(t0);
    assertSquashed(repo, originalOci);
    assertEquals("1", p.podman("image", "inspect", "--format", "{{len .RootFS.Layers}}", name).stdout().strip());
    assertSameRootfs(reference, p.mount(name), Containerd.comparison());
    assertNoBlobFetchedTwice(repo);

    System.out.printf("[podman] layers %d -> 1; cold pull %d ms%n", originalOci.layerDigests().size(), cold);
  }

  @Test
  void ctrImagesPullGetsOneLayerWithTheOriginalRootfs() {
    Containerd c = containerd();
    String repo = "ctr/app";
    String name = proxy.image(repo + ":" + TAG);

    long t0 = System.nanoTime();
    c.pull(name);
    long cold = ms(t0);
    RawManifest served = assertSquashed(repo, originalOci);
    assertEquals(served.sha256(), c.imageDigest(name));
    JsonNode stored = c.manifest(name);
    assertEquals(1, stored.get("layers").size(), "the manifest containerd stored");
    Path rootfs = c.mount(name);
    try {
      assertSameRootfs(reference, rootfs, Containerd.comparison());
    } finally {
      c.unmount(rootfs);
    }
    assertNoBlobFetchedTwice(repo);

    System.out.printf("[ctr] layers %d -> 1; cold pull %d ms%n", originalOci.layerDigests().size(), cold);
  }

  @Test
  void containerdConfiguredWithTheProxyAsARegistryMirrorPullsTheSquashedImage() throws IOException {
    Containerd c = containerd();
    String repo = "mirror/app";
    // containerd's hosts.toml: the registry's own name, resolved and pulled through the proxy, which learns
    // the registry meant from containerd's ?ns= parameter.
    Path hostsDir = fresh("hosts.d");
    Path hostDir = Files.createDirectories(hostsDir.resolve(registry.host()));
    Files.writeString(hostDir.resolve("hosts.toml"), String.join("\n",
        "server = \"" + registry.url() + "\"",
        "[host.\"" + proxy.url() + "\"]",
        "  capabilities = [\"pull\", \"resolve\"]",
        ""));
    String name = registry.host() + "/" + repo + ":" + TAG;
    c.pull(name, "--hosts-dir", hostsDir.toString());

    RawManifest served = assertSquashed(repo, originalOci);
    assertEquals(served.sha256(), c.imageDigest(name), "containerd got the proxy's squashed manifest");
    assertEquals(1, c.manifest(name).get("layers").size());
    assertEquals(List.of(), registry.requests(repo, "containerd"), "containerd must not go to the registry");
    Path rootfs = c.mount(name);
    try {
      assertSameRootfs(reference, rootfs, Containerd.comparison());
    } finally {
      c.unmount(rootfs);
    }
    assertNoBlobFetchedTwice(repo);
  }

  // ---------------------------------------------------------------------------------------------------------
  // 2: a keep rule keeps the first layer as it is.

  @Test
  void aKeepRuleKeepsTheFirstLayerByteForByteAndSquashesTheRest() {
    String repo = "keep/app";
    String config = String.join("\n",
        "squash:",
        "  rules:",
        "    - match: \"**\"",
        "      mode: keep",
        "      keep: 1",
        "");
    try (ProxyProcess keep = ProxyProcess.start(registry.url(), config)) {
      pullWithAKeepRule(keep, repo);
    }
  }

  private static void pullWithAKeepRule(ProxyProcess keep, String repo) {
    Path layout = fresh("keep");
    long t0 = System.nanoTime();
    Skopeo.copy(keep.ref(repo + ":" + TAG), "oci:" + layout + ":img");
    long cold = ms(t0);

    RawManifest served = keep.manifest(repo, TAG);
    assertEquals(originalOci.mediaType(), served.mediaType());
    assertEquals(2, served.layerDigests().size(), new String(served.bytes()));
    assertEquals(originalOci.layerDigests().get(0), served.layerDigests().get(0),
        "the kept layer must be the original blob, so it stays shared with other images");
    assertEquals(originalOci.json().get("layers").get(0), served.json().get("layers").get(0));
    List<ProxyProcess.Squash> lines = keep.squashes(repo);
    assertEquals(1, lines.size(), keep.tail());
    assertEquals(originalOci.layerDigests().size(), lines.get(0).layersBefore());
    assertEquals(2, lines.get(0).layersAfter());

    ImageArchive pulled = ImageArchive.open(layout);
    assertEquals(2, pulled.layers().size());
    assertEquals(originalOci.layerDigests().get(0), pulled.layers().get(0).digest());
    ImageChecks.assertConsistent(pulled);
    assertSameRootfs(reference, Skopeo.umociUnpack(layout, "img", fresh("bundle")), RootfsTree.Options.exact());
    assertNoBlobFetchedTwice(repo);

    System.out.printf("[keep 1] layers %d -> 2, compressed %d -> %d bytes (kept layer %d bytes); cold copy %d ms%n",
        originalOci.layerDigests().size(), originalOci.layerBytes(), served.layerBytes(),
        served.json().get("layers").get(0).get("size").asLong(), cold);
  }

  // ---------------------------------------------------------------------------------------------------------
  // 5: by the original digest, the original manifest, byte for byte.

  @Test
  void aPullByTheOriginalDigestGetsTheOriginalManifestByteForByteWithItsLayers() {
    String repo = "digest/app";
    RawManifest original = registry.manifest(repo, TAG);
    String digest = original.sha256();
    assertEquals(digest, original.digestHeader());

    String viaProxy = skopeoInspectRaw(proxy.ref(repo + "@" + digest));
    String direct = skopeoInspectRaw(registry.ref(repo + "@" + digest));
    assertEquals(direct, viaProxy, "skopeo inspect --raw by digest: proxy vs registry");

    RawManifest served = proxy.manifest(repo, digest);
    assertArrayEquals(original.bytes(), served.bytes(), "the original manifest, byte for byte");
    assertEquals(digest, served.digestHeader());
    assertEquals(original.mediaType(), served.mediaType());

    Path layout = fresh("by-digest");
    Skopeo.copy(proxy.ref(repo + "@" + digest), "oci:" + layout + ":img");
    ImageArchive pulled = ImageArchive.open(layout);
    assertEquals(original.layerDigests(), pulled.layers().stream().map(ImageArchive.Layer::digest).toList(),
        "the original layers");
    assertSameRootfs(reference, Skopeo.umociUnpack(layout, "img", fresh("bundle")), RootfsTree.Options.exact());
    assertEquals(List.of(), proxy.squashes(repo), "a pull by the original digest squashes nothing");
    assertNoBlobFetchedTwice(repo);
  }

  static String skopeoInspectRaw(String ref) {
    return Proc.of("skopeo", "--insecure-policy", "inspect", "--raw", "--tls-verify=false", ref)
        .timeout(Duration.ofMinutes(2)).ok().stdout();
  }

  // ---------------------------------------------------------------------------------------------------------
  // 7: a one-layer image passes through.

  @Test
  void aOneLayerImageComesBackUnchanged() {
    String repo = "single/app";
    ImageBuilder one = ImageBuilder.create("one");
    closeLater.add(one);
    one.layer("busybox only", "mkdir -p bin etc && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh"
        + " && echo one > etc/one");
    Skopeo.copy(one.skopeoRef(), registry.ref(repo + ":" + TAG), "--format", "oci");
    RawManifest original = registry.manifest(repo, TAG);
    assertEquals(1, original.layerDigests().size());

    RawManifest served = proxy.manifest(repo, TAG);
    assertEquals(original.sha256(), served.digestHeader(), "same digest");
    assertArrayEquals(original.bytes(), served.bytes(), "same bytes");
    assertEquals(original.mediaType(), served.mediaType());
    Path layout = fresh("single");
    Skopeo.copy(proxy.ref(repo + ":" + TAG), "oci:" + layout + ":img");
    assertEquals(original.layerDigests(), List.of(ImageArchive.open(layout).layers().get(0).digest()));
    assertEquals(List.of(), proxy.squashes(repo), "nothing to squash in a one-layer image");
  }

  // ---------------------------------------------------------------------------------------------------------
  // 6: a multi-platform index.

  static final String MULTI = "multi/app";
  static Multi multi;

  record Multi(RawManifest index, RawManifest amd64, RawManifest arm64, RawManifest attestation,
      Path amd64Rootfs, Path arm64Rootfs) {}

  /** Two platforms (3 layers each, different content) and an attestation-like entry, in one OCI index. */
  static synchronized Multi multi() {
    if (multi != null) {
      return multi;
    }
    for (String arch : List.of("amd64", "arm64")) {
      ImageBuilder b = ImageBuilder.create(arch);
      closeLater.add(b);
      b.layer("base", "mkdir -p bin etc && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
      b.layer("arch", "echo " + arch + " > etc/arch && echo scratch > etc/tmp-" + arch + " && mkdir -p opt/"
          + arch + " && echo x > opt/" + arch + "/x");
      b.layer("cleanup", "rm etc/tmp-" + arch + " && echo more >> etc/arch && chmod 600 opt/" + arch + "/x");
      b.config("--architecture", arch, "--os", "linux");
      Skopeo.copy(b.skopeoRef(), registry.ref(MULTI + ":" + arch), "--format", "oci");
    }
    ImageBuilder att = ImageBuilder.create("att");
    closeLater.add(att);
    att.layer("statement", "echo '{\"_type\":\"https://in-toto.io/Statement/v0.1\"}' > statement.json");
    Skopeo.copy(att.skopeoRef(), registry.ref(MULTI + ":att"), "--format", "oci");

    RawManifest amd64 = registry.manifest(MULTI, "amd64");
    RawManifest arm64 = registry.manifest(MULTI, "arm64");
    RawManifest attestation = registry.manifest(MULTI, "att");
    ObjectNode index = ImageArchive.JSON.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", "application/vnd.oci.image.index.v1+json");
    ArrayNode ms = index.putArray("manifests");
    ObjectNode a = descriptor(ms, amd64);
    a.putObject("platform").put("architecture", "amd64").put("os", "linux");
    ObjectNode r = descriptor(ms, arm64);
    r.putObject("platform").put("architecture", "arm64").put("os", "linux").put("variant", "v8");
    ObjectNode t = descriptor(ms, attestation);
    t.putObject("annotations").put("vnd.docker.reference.digest", amd64.sha256())
        .put("vnd.docker.reference.type", "attestation-manifest");
    t.putObject("platform").put("architecture", "unknown").put("os", "unknown");
    byte[] bytes;
    try {
      bytes = ImageArchive.JSON.writeValueAsBytes(index);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    registry.putManifest(MULTI, TAG, "application/vnd.oci.image.index.v1+json", bytes);
    RawManifest stored = registry.manifest(MULTI, TAG);
    assertArrayEquals(bytes, stored.bytes());

    Path amdRef = Skopeo.unpack(registry.ref(MULTI + ":amd64"), work.resolve("multi-ref-amd64"));
    Path armRef = Skopeo.unpack(registry.ref(MULTI + ":arm64"), work.resolve("multi-ref-arm64"));
    multi = new Multi(stored, amd64, arm64, attestation, amdRef, armRef);
    return multi;
  }

  static ObjectNode descriptor(ArrayNode to, RawManifest m) {
    ObjectNode d = to.addObject();
    d.put("mediaType", m.mediaType());
    d.put("digest", m.sha256());
    d.put("size", m.bytes().length);
    return d;
  }

  @Test
  void aMultiPlatformIndexIsRewrittenEntryByEntryAndEachPlatformPullsSquashed() {
    Multi m = multi();
    long t0 = System.nanoTime();
    RawManifest served = proxy.manifest(MULTI, TAG);
    long indexMs = ms(t0);
    assertEquals(m.index().mediaType(), served.mediaType());
    assertEquals(served.sha256(), served.digestHeader());
    assertNotEquals(m.index().sha256(), served.sha256(), "the index must be rewritten");
    assertEquals(served.json(), Skopeo.inspectRaw(proxy.ref(MULTI + ":" + TAG)));

    JsonNode entries = served.json().get("manifests");
    JsonNode originalEntries = m.index().json().get("manifests");
    assertEquals(3, entries.size());
    List<RawManifest> originals = List.of(m.amd64(), m.arm64());
    for (int i = 0; i < 2; i++) {
      JsonNode e = entries.get(i);
      assertEquals(originalEntries.get(i).get("platform"), e.get("platform"), "platform of entry " + i);
      assertNotEquals(originals.get(i).sha256(), e.get("digest").asText(), "entry " + i + " must be replaced");
      RawManifest child = proxy.manifest(MULTI, e.get("digest").asText());
      assertEquals(e.get("digest").asText(), child.sha256());
      assertEquals(e.get("size").asLong(), child.bytes().length);
      assertEquals(e.get("mediaType").asText(), child.mediaType());
      assertEquals(1, child.layerDigests().size(), "entry " + i + " points at a one-layer manifest");
    }
    assertEquals(originalEntries.get(2), entries.get(2), "the attestation entry is kept as it is");
    assertArrayEquals(m.attestation().bytes(), proxy.manifest(MULTI, m.attestation().sha256()).bytes(),
        "the attestation stays pullable by its digest, unchanged");
    List<ProxyProcess.Squash> lines = proxy.squashes(MULTI);
    assertEquals(2, lines.size(), proxy.tail());
    lines.forEach(s -> assertEquals(3, s.layersBefore()));
    lines.forEach(s -> assertEquals(1, s.layersAfter()));

    for (String arch : List.of("amd64", "arm64")) {
      Path layout = fresh("multi-" + arch);
      Skopeo.copy(proxy.ref(MULTI + ":" + TAG), "oci:" + layout + ":img", "--override-arch", arch);
      ImageArchive pulled = ImageArchive.open(layout);
      assertEquals(1, pulled.layers().size(), arch);
      assertEquals(arch, pulled.config().get("architecture").asText());
      ImageChecks.assertConsistent(pulled);
      Path expected = arch.equals("amd64") ? m.amd64Rootfs() : m.arm64Rootfs();
      int compared = RootfsTree.assertIdentical(expected, Skopeo.umociUnpack(layout, "img", fresh("bundle")),
          RootfsTree.Options.exact());
      assertTrue(compared > 5, "compared only " + compared);
    }
    assertEquals(2, proxy.squashes(MULTI).size(), "pulling the platforms squashes nothing more");
    assertNoBlobFetchedTwice(MULTI);
    System.out.printf("[index] 2 platforms x 3 layers -> 1 each; index served in %d ms%n", indexMs);
  }

  @Test
  void dockerAndContainerdPullTheirPlatformFromARewrittenIndex() {
    Multi m = multi();
    String name = proxy.image(MULTI + ":" + TAG);
    RawManifest served = proxy.manifest(MULTI, TAG);
    String amd64Squashed = served.json().get("manifests").get(0).get("digest").asText();

    Dockerd d = dockerd();
    d.docker("pull", name);
    assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", name).stdout().strip());
    assertEquals("amd64", d.docker("image", "inspect", "--format", "{{.Architecture}}", name).stdout().strip());
    assertEquals(proxy.image(MULTI) + "@" + served.sha256(),
        d.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", name).stdout().strip());
    int compared = RootfsTree.assertIdentical(m.amd64Rootfs(), d.exportRootfs(name, fresh("docker-multi")),
        Dockerd.exportComparison());
    assertTrue(compared > 5);

    Containerd c = containerd();
    c.pull(name, "--platform", "linux/amd64");
    assertEquals(served.sha256(), c.imageDigest(name));
    try {
      JsonNode amd = ImageArchive.JSON.readTree(c.content(amd64Squashed));
      assertEquals(1, amd.get("layers").size());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Path rootfs = c.mount(name);
    try {
      RootfsTree.assertIdentical(m.amd64Rootfs(), rootfs, Containerd.comparison());
    } finally {
      c.unmount(rootfs);
    }
    assertFalse(proxy.squashes(MULTI).size() > 2, "no squash beyond one per platform:\n" + proxy.tail());
  }
}
