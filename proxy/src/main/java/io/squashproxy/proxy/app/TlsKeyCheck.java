package io.squashproxy.proxy.app;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Refuses a TLS key that is not the certificate's. Netty would take the pair, and every handshake would then
 * fail on the client's side with nothing in the proxy's log; or, with OpenSSL, fail the start with a message
 * about key formats. The check signs a few bytes with the key and verifies them with the certificate's public
 * key. A key or certificate it cannot read (another format) is left to Netty, which reports on it.
 */
final class TlsKeyCheck {
  private static final Pattern PKCS8 = Pattern.compile(
      "-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");

  private TlsKeyCheck() {}

  static void requireMatch(Path cert, Path key) throws IOException {
    PublicKey certified = leafPublicKey(cert);
    byte[] der = certified == null ? null : pkcs8(key);
    if (der == null) {
      return;
    }
    if (!matches(certified, der)) {
      throw new IOException("tls: the key " + key + " does not belong to the certificate " + cert
          + " (set by tls.key and tls.cert): the certificate's public key is not the key's; configure the key "
          + "the certificate was issued for");
    }
  }

  /** Whether the PKCS#8 key {@code der} is the private half of {@code certified}; true when it cannot tell. */
  private static boolean matches(PublicKey certified, byte[] der) {
    String algorithm = signatureAlgorithm(certified.getAlgorithm());
    PrivateKey priv = parse(der, certified.getAlgorithm());
    if (priv == null) {
      // A well-formed key of another algorithm (an RSA key for an EC certificate) is a mismatch; anything
      // else is for Netty to report.
      return Stream.of("RSA", "EC", "Ed25519").filter(a -> !a.equals(certified.getAlgorithm()))
          .noneMatch(a -> parse(der, a) != null);
    }
    if (algorithm == null) {
      return true;
    }
    try {
      byte[] probe = "squash-proxy tls key check".getBytes(StandardCharsets.US_ASCII);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(priv);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(certified);
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false; // e.g. an EC key on another curve than the certificate's
    }
  }

  private static PublicKey leafPublicKey(Path cert) {
    try (InputStream in = Files.newInputStream(cert)) {
      Collection<? extends Certificate> chain = CertificateFactory.getInstance("X.509").generateCertificates(in);
      return chain.isEmpty() ? null : chain.iterator().next().getPublicKey();
    } catch (IOException | GeneralSecurityException e) {
      return null;
    }
  }

  /** The DER of an unencrypted PKCS#8 PEM key, or null for any other file. */
  private static byte[] pkcs8(Path key) {
    try {
      Matcher m = PKCS8.matcher(Files.readString(key, StandardCharsets.US_ASCII));
      return m.find() ? Base64.getMimeDecoder().decode(m.group(1)) : null;
    } catch (IOException | IllegalArgumentException e) {
      return null;
    }
  }

  private static PrivateKey parse(byte[] der, String algorithm) {
    try {
      return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      return null;
    }
  }

  private static String signatureAlgorithm(String keyAlgorithm) {
    return switch (keyAlgorithm) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      case "Ed448" -> "Ed448";
      default -> null;
    };
  }
}
