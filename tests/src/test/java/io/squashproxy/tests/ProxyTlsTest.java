package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.Cleanup;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.TestCa;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The proxy with {@code tls: {cert, key}} in its config, in front of a plain-http Distribution registry, pulled
 * from over HTTPS by real clients. The test makes its own CA and a server certificate for {@code IP:127.0.0.1}
 * and {@code DNS:localhost} with openssl ({@link TestCa}), in its scratch dir.
 *
 * <ul>
 *   <li>The registry listener speaks TLS only: plain HTTP to it fails, HTTPS verifies against the test CA by IP
 *       and by name, and does not verify against the JDK's default trust.</li>
 *   <li>docker pulls {@code 127.0.0.1:PORT/repo:tag} with the CA in {@code /etc/docker/certs.d/127.0.0.1:PORT/}
 *       (made for the test's port, removed afterwards). docker treats 127.0.0.0/8 as an insecure registry
 *       (it then skips verification, and would fall back to plain HTTP), so what proves TLS here is that the
 *       listener answers nothing but TLS, and that docker has the squashed image whose digest the proxy serves
 *       over verified HTTPS.</li>
 *   <li>skopeo with TLS verification on: with {@code --src-cert-dir} holding the CA it copies the squashed
 *       image (one layer, the original rootfs); with default trust it fails with a certificate error.</li>
 *   <li>Blobs over TLS (the ChunkedNioFile path, as zero-copy file regions cannot go through TLS): full GETs,
 *       ranges across 64 KiB chunk boundaries, open and suffix ranges, HEAD, 416, and concurrent GETs.</li>
 * </ul>
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ProxyTlsTest {

  static final String TAG = "1";
  static final Path DOCKER_CERTS_D = Path.of("/etc/docker/certs.d");

  static Scratch work;
  static TestCa ca;
  static ImageBuilder image;
  static AccessLogRegistry registry;
  static ProxyProcess proxy;
  static Dockerd dockerd;
  static Path reference;
  static RawManifest originalV2s2;
  static RawManifest originalOci;
  static HttpClient trusting;
  /** Set when this test made /etc/docker/certs.d itself (then it removes it again, if empty). */
  static boolean madeCertsD;

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireRoot("umoci keeping owners; dockerd; /etc/docker/certs.d");
    Env.requireTools("openssl", "docker-registry", "umoci", "skopeo");
    long t0 = System.nanoTime();
    work = Scratch.create("proxy-tls");
    ca = TestCa.create(work.resolve("pki"));
    trusting = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(ca.sslContext())
        .connectTimeout(Duration.ofSeconds(5)).build();
    Path busybox = Env.busybox();
    image = ImageBuilder.create("tls")
        .layer("base: busybox", String.join("\n",
            "mkdir -p bin etc tmp app",
            "cp " + busybox + " bin/busybox",
            "for a in sh ls cat echo true; do ln -s busybox bin/$a; done",
            "printf 'root:x:0:0:root:/root:/bin/sh\\n' > etc/passwd",
            "chmod 1777 tmp"))
        .layer("app: files, random data, a link", String.join("\n",
            "mkdir -p app/data app/gone",
            "echo 'hello over tls' > app/hello.txt",
            "head -c 400000 /dev/urandom > app/data/random.bin",
            "echo bye > app/gone/file",
            "echo old > app/changed",
            "ln -s hello.txt app/link",
            "chown 1000:1000 app/data"))
        .layer("changes: delete, rewrite, chmod", String.join("\n",
            "rm -r app/gone",
            "echo new > app/changed",
            "chmod 0750 app/data"))
        .config("--config.cmd", "/bin/echo", "--config.cmd", "hi");
    registry = AccessLogRegistry.start();
    for (String repo : List.of("docker/app", "blob/app")) {
      Skopeo.copy(image.skopeoRef(), registry.ref(repo + ":" + TAG), "--format", "v2s2");
    }
    Skopeo.copy(image.skopeoRef(), registry.ref("skopeo/app:" + TAG), "--format", "oci");
    originalV2s2 = registry.manifest("docker/app", TAG);
    originalOci = registry.manifest("skopeo/app", TAG);
    assertEquals(3, originalV2s2.layerDigests().size());
    reference = Skopeo.unpack(registry.ref("skopeo/app:" + TAG), work.resolve("reference"));
    assertTrue(Files.isRegularFile(reference.resolve("app/data/random.bin")));
    assertFalse(Files.exists(reference.resolve("app/gone")));
    proxy = ProxyProcess.startTls(registry.url(), ca.proxyTlsYaml(), ca.sslContext());
    assertTrue(proxy.url().startsWith("https://"), proxy.url());
    System.out.printf("[setup] CA and server certificate, image of %d layers (%d bytes compressed), registry %s,"
        + " proxy https://%s; %d ms%n", originalV2s2.layerDigests().size(), originalV2s2.layerBytes(),
        registry.host(), proxy.host(), ms(t0));
  }

  @AfterAll
  static void tearDown() {
    List<AutoCloseable> all = new ArrayList<>();
    all.add(ProxyTlsTest::removeDockerCertsDir);
    all.add(dockerd);
    all.add(proxy);
    all.add(registry);
    all.add(image);
    all.add(work);
    Cleanup.closeAll(all);
  }

  static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  /** The squashed manifest the proxy serves (over verified HTTPS) for REPO:TAG, checked against its log. */
  static RawManifest assertSquashed(String repo, RawManifest original) {
    RawManifest served = proxy.manifest(repo, TAG);
    assertEquals(original.mediaType(), served.mediaType());
    assertEquals(served.sha256(), served.digestHeader(), "Docker-Content-Digest must be the digest of the body");
    assertNotEquals(original.sha256(), served.sha256());
    assertEquals(1, served.layerDigests().size(), "squashed manifest: " + new String(served.bytes()));
    List<ProxyProcess.Squash> lines = proxy.squashes(repo);
    assertEquals(1, lines.size(), "one squash for " + repo + ":\n" + proxy.tail());
    assertEquals(original.sha256(), lines.get(0).source());
    assertEquals(served.sha256(), lines.get(0).result());
    assertEquals(original.layerDigests().size(), lines.get(0).layersBefore());
    assertEquals(1, lines.get(0).layersAfter());
    return served;
  }

  static HttpResponse<byte[]> send(HttpClient client, HttpRequest req) throws IOException {
    try {
      return client.send(req, HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  static HttpRequest.Builder request(String url) {
    return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
  }

  static Path dockerCertsDir() {
    return DOCKER_CERTS_D.resolve(proxy.host());
  }

  /** Removes /etc/docker/certs.d/127.0.0.1:PORT, and /etc/docker/certs.d if this test made it and it is empty. */
  static void removeDockerCertsDir() throws IOException {
    if (proxy == null) {
      return;
    }
    Scratch.delete(dockerCertsDir());
    if (madeCertsD) {
      try (var left = Files.list(DOCKER_CERTS_D)) {
        if (left.findAny().isEmpty()) {
          Files.delete(DOCKER_CERTS_D);
          madeCertsD = false;
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------

  @Test
  void theListenerSpeaksOnlyTlsWithACertificateForTheIpAndTheName() throws Exception {
    // Plain HTTP to the TLS port: the TLS handler sees no TLS record and closes the connection.
    HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    IOException refused = assertThrows(IOException.class,
        () -> send(plain, request("http://" + proxy.host() + "/v2/").timeout(Duration.ofSeconds(20)).build()),
        "plain HTTP to the TLS listener must fail");

    // HTTPS trusting the test CA, by IP (SAN IP:127.0.0.1) and by name (SAN DNS:localhost).
    HttpResponse<byte[]> byIp = send(trusting, request(proxy.url() + "/v2/").build());
    assertEquals(200, byIp.statusCode());
    assertTrue(byIp.uri().getScheme().equals("https"));
    SSLSession session = byIp.sslSession().orElseThrow(() -> new AssertionError("no TLS session"));
    assertTrue(session.getProtocol().startsWith("TLSv1."), session.getProtocol());
    X509Certificate leaf = (X509Certificate) session.getPeerCertificates()[0];
    assertEquals(ca.caCertificate().getSubjectX500Principal(), leaf.getIssuerX500Principal());
    leaf.verify(ca.caCertificate().getPublicKey());
    Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
    assertTrue(sans.contains(List.of(7, "127.0.0.1")) && sans.contains(List.of(2, "localhost")), "SANs " + sans);
    String port = proxy.host().substring(proxy.host().indexOf(':') + 1);
    assertEquals(200, send(trusting, request("https://localhost:" + port + "/v2/").build()).statusCode());

    // The JDK's default trust (no test CA): the handshake fails.
    HttpClient untrusting = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .sslContext(defaultSsl()).connectTimeout(Duration.ofSeconds(5)).build();
    IOException unverified = assertThrows(IOException.class,
        () -> send(untrusting, request(proxy.url() + "/v2/").build()));
    assertInstanceOf(SSLException.class, unverified, "a TLS verification failure, not " + unverified);

    // The listener survives both and still serves.
    assertTrue(proxy.isAlive());
    assertEquals(200, send(trusting, request(proxy.url() + "/v2/").build()).statusCode());
    System.out.printf("[tls] %s, %s; plain http -> %s; default trust -> %s%n", session.getProtocol(),
        session.getCipherSuite(), refused, unverified.getClass().getSimpleName());
  }

  static SSLContext defaultSsl() {
    try {
      return SSLContext.getDefault();
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void dockerPullsTheSquashedImageOverTls() throws IOException {
    String repo = "docker/app";
    String name = proxy.image(repo + ":" + TAG);
    madeCertsD = madeCertsD || !Files.exists(DOCKER_CERTS_D);
    Path certs = Files.createDirectories(dockerCertsDir());
    try {
      Files.copy(ca.caCert(), certs.resolve("ca.crt"));
      long t0 = System.nanoTime();
      dockerd = Dockerd.start();
      long started = ms(t0);

      t0 = System.nanoTime();
      dockerd.docker("pull", name);
      long pulled = ms(t0);
      RawManifest served = assertSquashed(repo, originalV2s2);
      assertEquals("1", dockerd.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", name)
          .stdout().strip());
      assertEquals(proxy.image(repo) + "@" + served.sha256(),
          dockerd.docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", name).stdout().strip(),
          "docker has the digest the proxy serves over verified HTTPS");
      int compared = RootfsTree.assertIdentical(reference, dockerd.exportRootfs(name, work.resolve("docker-export")),
          Dockerd.exportComparison());
      assertTrue(compared > 10, "compared only " + compared + " paths");
      System.out.printf("[docker] dockerd up in %d ms; pull over TLS %d ms; layers %d -> 1; %d paths as the"
          + " original%n", started, pulled, originalV2s2.layerDigests().size(), compared);
    } finally {
      removeDockerCertsDir();
    }
    assertFalse(Files.exists(certs), certs + " must be gone");
  }

  @Test
  void skopeoVerifiesTheCertificateAndCopiesTheSquashedImage() {
    String repo = "skopeo/app";
    String ref = proxy.ref(repo + ":" + TAG);
    // Default trust: the system roots and the default certs.d dirs, none of which holds the test CA.
    assertFalse(Files.exists(dockerCertsDir()), "docker's certs.d dir for the proxy must not exist now");
    assertFalse(Files.exists(Path.of("/etc/containers/certs.d", proxy.host())));
    Proc.Result untrusted = skopeo("copy", "--src-tls-verify=true", ref,
        "oci:" + work.resolve("skopeo-untrusted") + ":img").run();
    assertNotEquals(0, untrusted.exitCode(), "skopeo must not trust the proxy without the CA: "
        + untrusted.describe());
    assertTrue(untrusted.output().contains("x509: certificate signed by unknown authority"),
        "a certificate error: " + untrusted.describe());
    assertEquals(List.of(), proxy.squashes(repo), "nothing was served to the client that failed verification");

    // The CA in --src-cert-dir, verification on.
    Path certDir = ca.certDir(work.resolve("skopeo-certs"));
    Path layout = work.resolve("skopeo-layout");
    long t0 = System.nanoTime();
    skopeo("copy", "--src-tls-verify=true", "--src-cert-dir", certDir.toString(), ref, "oci:" + layout + ":img")
        .ok();
    long copied = ms(t0);
    RawManifest served = assertSquashed(repo, originalOci);
    ImageArchive pulled = ImageArchive.open(layout);
    assertEquals(1, pulled.layers().size());
    assertEquals(served.layerDigests().get(0), pulled.layers().get(0).digest());
    ImageChecks.assertConsistent(pulled);
    JsonNode inspected = parse(skopeo("inspect", "--raw", "--tls-verify=true", "--cert-dir", certDir.toString(), ref)
        .ok().stdout());
    assertEquals(served.json(), inspected);
    int compared = RootfsTree.assertIdentical(reference, Skopeo.umociUnpack(layout, "img", work.resolve("bundle")),
        RootfsTree.Options.exact());
    assertTrue(compared > 10, "compared only " + compared + " paths");
    System.out.printf("[skopeo] default trust -> %s; with --src-cert-dir: copy %d ms, layers %d -> 1, %d paths as"
        + " the original%n", firstLine(untrusted, "x509"), copied, originalOci.layerDigests().size(), compared);
  }

  static Proc skopeo(String... args) {
    List<String> cmd = new ArrayList<>(List.of("skopeo", "--insecure-policy"));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).timeout(Duration.ofMinutes(2));
  }

  static JsonNode parse(String json) {
    try {
      return ImageArchive.JSON.readTree(json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String firstLine(Proc.Result r, String containing) {
    return r.output().lines().filter(l -> l.contains(containing)).findFirst().orElse("?").strip();
  }

  @Test
  void blobsComeWholeAndInRangesOverTls() throws Exception {
    String repo = "blob/app";
    RawManifest served = assertSquashed(repo, originalV2s2);
    JsonNode layer = served.json().path("layers").get(0);
    String digest = layer.get("digest").asText();
    long size = layer.get("size").asLong();
    assertTrue(size > 300_000, "the squashed layer is big enough for several 64 KiB chunks: " + size);
    String url = proxy.url() + "/v2/" + repo + "/blobs/" + digest;

    long t0 = System.nanoTime();
    HttpResponse<byte[]> full = send(trusting, request(url).build());
    long fullMs = ms(t0);
    assertEquals(200, full.statusCode());
    assertEquals(size, full.body().length);
    assertEquals(String.valueOf(size), full.headers().firstValue("Content-Length").orElse(null));
    assertEquals(digest, full.headers().firstValue("Docker-Content-Digest").orElse(null));
    assertEquals(digest, RawManifest.digestOf(full.body()), "the full blob over TLS has its digest");
    byte[] whole = full.body();

    // Ranges: the first byte, across chunk boundaries, exactly at one, open-ended, a suffix.
    long[][] ranges = {{0, 0}, {100, 200_099}, {65_535, 65_536}, {size - 1000, size - 1}, {size - 777, size - 1}};
    String[] headers = {"bytes=0-0", "bytes=100-200099", "bytes=65535-65536", "bytes=" + (size - 1000) + "-",
        "bytes=-777"};
    for (int i = 0; i < ranges.length; i++) {
      long start = ranges[i][0];
      long end = ranges[i][1];
      HttpResponse<byte[]> part = send(trusting, request(url).header("Range", headers[i]).build());
      assertEquals(206, part.statusCode(), headers[i]);
      assertEquals("bytes " + start + "-" + end + "/" + size, part.headers().firstValue("Content-Range").orElse(null),
          headers[i]);
      assertEquals(String.valueOf(end - start + 1), part.headers().firstValue("Content-Length").orElse(null));
      assertArrayEquals(Arrays.copyOfRange(whole, (int) start, (int) end + 1), part.body(), headers[i]);
    }
    HttpResponse<byte[]> past = send(trusting, request(url).header("Range", "bytes=" + size + "-").build());
    assertEquals(416, past.statusCode());
    assertEquals("bytes */" + size, past.headers().firstValue("Content-Range").orElse(null));
    HttpResponse<byte[]> head = send(trusting, request(url).method("HEAD", HttpRequest.BodyPublishers.noBody())
        .build());
    assertEquals(200, head.statusCode());
    assertEquals(String.valueOf(size), head.headers().firstValue("Content-Length").orElse(null));
    assertEquals(0, head.body().length);

    // The config blob, and the layer again, over the same kept-alive connections after all of the above.
    String configDigest = served.json().path("config").path("digest").asText();
    HttpResponse<byte[]> config = send(trusting, request(proxy.url() + "/v2/" + repo + "/blobs/" + configDigest)
        .build());
    assertEquals(200, config.statusCode());
    assertEquals(configDigest, RawManifest.digestOf(config.body()));

    // Concurrent full and ranged GETs (several TLS connections at once).
    List<CompletableFuture<HttpResponse<byte[]>>> fulls = new ArrayList<>();
    List<CompletableFuture<HttpResponse<byte[]>>> parts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      fulls.add(trusting.sendAsync(request(url).build(), HttpResponse.BodyHandlers.ofByteArray()));
      parts.add(trusting.sendAsync(request(url).header("Range", "bytes=" + (i * 40_000) + "-" + (i * 40_000 + 99_999))
          .build(), HttpResponse.BodyHandlers.ofByteArray()));
    }
    for (int i = 0; i < 6; i++) {
      HttpResponse<byte[]> f = fulls.get(i).get(60, TimeUnit.SECONDS);
      assertEquals(200, f.statusCode());
      assertArrayEquals(whole, f.body(), "concurrent full GET " + i);
      HttpResponse<byte[]> p = parts.get(i).get(60, TimeUnit.SECONDS);
      assertEquals(206, p.statusCode());
      assertArrayEquals(Arrays.copyOfRange(whole, i * 40_000, i * 40_000 + 100_000), p.body(), "concurrent range " + i);
    }
    assertTrue(proxy.isAlive());
    System.out.printf("[blobs] squashed layer %d bytes: full GET over TLS %d ms; %d ranges, 416, HEAD, config blob,"
        + " 12 concurrent GETs all byte-exact%n", size, fullMs, ranges.length);
  }
}
