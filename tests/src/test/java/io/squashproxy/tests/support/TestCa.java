package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HexFormat;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A throw-away certificate authority and one server certificate signed by it, made with the {@code openssl}
 * CLI in a directory the caller owns (and removes): {@code ca.crt} (self-signed, CA:TRUE, keyCertSign),
 * {@code server.crt} (CA:FALSE, serverAuth, subjectAltName {@code IP:127.0.0.1, DNS:localhost}) and
 * {@code server.key} (PKCS#8 PEM, {@code BEGIN PRIVATE KEY}, which Netty reads without BouncyCastle).
 * ECDSA P-256 keys, valid for two days. The CA's private key stays in the directory; nothing is installed
 * anywhere else.
 */
public final class TestCa {

  private final Path dir;
  private final X509Certificate caCert;

  private TestCa(Path dir, X509Certificate caCert) {
    this.dir = dir;
    this.caCert = caCert;
  }

  /** Makes the CA and the server certificate in {@code dir} (created if missing). */
  public static TestCa create(Path dir) {
    Env.requireTools("openssl");
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve("ca.cnf"), String.join("\n",
          "[req]",
          "distinguished_name = dn",
          "prompt = no",
          "[dn]",
          "CN = squash-proxy test CA",
          "[v3_ca]",
          "basicConstraints = critical,CA:TRUE",
          "keyUsage = critical,keyCertSign,cRLSign",
          "subjectKeyIdentifier = hash",
          ""));
      Files.writeString(dir.resolve("server.ext"), String.join("\n",
          "basicConstraints = critical,CA:FALSE",
          "keyUsage = critical,digitalSignature",
          "extendedKeyUsage = serverAuth",
          "subjectAltName = IP:127.0.0.1,DNS:localhost",
          "subjectKeyIdentifier = hash",
          "authorityKeyIdentifier = keyid",
          ""));
      openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key");
      openssl(dir, "req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca", "-key", "ca.key",
          "-sha256", "-days", "2", "-set_serial", serial(), "-out", "ca.crt");
      openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key");
      openssl(dir, "req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr");
      openssl(dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-set_serial", serial(), "-sha256", "-days", "2", "-extfile", "server.ext", "-out", "server.crt");
      String key = Files.readString(dir.resolve("server.key"));
      if (!key.startsWith("-----BEGIN PRIVATE KEY-----")) {
        throw new AssertionError("openssl genpkey did not write a PKCS#8 key:\n" + key.lines().findFirst().orElse(""));
      }
      try (InputStream in = Files.newInputStream(dir.resolve("ca.crt"))) {
        return new TestCa(dir, (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new AssertionError("cannot read the CA certificate openssl made", e);
    }
  }

  private static void openssl(Path dir, String... args) {
    String[] cmd = new String[args.length + 1];
    cmd[0] = "openssl";
    System.arraycopy(args, 0, cmd, 1, args.length);
    Proc.of(cmd).dir(dir).timeout(Duration.ofSeconds(30)).ok();
  }

  private static String serial() {
    byte[] b = new byte[12];
    new SecureRandom().nextBytes(b);
    b[0] &= 0x7f;
    b[0] |= 0x01;
    return "0x" + HexFormat.of().formatHex(b);
  }

  public Path dir() {
    return dir;
  }

  /** The CA certificate, PEM. */
  public Path caCert() {
    return dir.resolve("ca.crt");
  }

  /** The server certificate, PEM (the leaf alone: clients hold the CA). */
  public Path serverCert() {
    return dir.resolve("server.crt");
  }

  /** The server's private key, PKCS#8 PEM. */
  public Path serverKey() {
    return dir.resolve("server.key");
  }

  public X509Certificate caCertificate() {
    return caCert;
  }

  /** The {@code tls:} section of a proxy config that serves this CA's server certificate. */
  public String proxyTlsYaml() {
    return "tls:\n  cert: " + serverCert() + "\n  key: " + serverKey() + "\n";
  }

  /** A TLS client context that trusts this CA and nothing else. */
  public SSLContext sslContext() {
    try {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      trust.setCertificateEntry("squash-proxy-test-ca", caCert);
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, tmf.getTrustManagers(), null);
      return ctx;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new AssertionError(e);
    }
  }

  /** A new directory holding only {@code ca.crt}: a skopeo/containers {@code --cert-dir}. */
  public Path certDir(Path dir) {
    try {
      Files.createDirectories(dir);
      Files.copy(caCert(), dir.resolve("ca.crt"));
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
