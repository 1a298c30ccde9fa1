package io.squashproxy.core.digest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A validated content digest such as {@code sha256:9f86d0...}. Only sha256 and sha512 are accepted: the OCI
 * image spec registers those two, and a digest we cannot verify is a digest we must refuse.
 */
public record Digest(String algorithm, String hex) implements Comparable<Digest> {

  public static final String SHA256 = "sha256";
  public static final String SHA512 = "sha512";

  private static final Pattern SHA256_HEX = Pattern.compile("[a-f0-9]{64}");
  private static final Pattern SHA512_HEX = Pattern.compile("[a-f0-9]{128}");

  public Digest {
    Objects.requireNonNull(algorithm, "algorithm");
    Objects.requireNonNull(hex, "hex");
    Pattern pattern = switch (algorithm) {
      case SHA256 -> SHA256_HEX;
      case SHA512 -> SHA512_HEX;
      default -> throw new IllegalArgumentException("unsupported digest algorithm: " + algorithm);
    };
    if (!pattern.matcher(hex).matches()) {
      throw new IllegalArgumentException("invalid " + algorithm + " digest: " + hex);
    }
  }

  /** Parses {@code algorithm:hex}; throws {@link IllegalArgumentException} with the offending text. */
  public static Digest parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("digest is missing");
    }
    int colon = text.indexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("invalid digest: " + text);
    }
    return new Digest(text.substring(0, colon), text.substring(colon + 1));
  }

  /** True when {@code text} is a digest this type accepts. */
  public static boolean isValid(String text) {
    try {
      parse(text);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  public static Digest sha256(byte[] data) {
    MessageDigest md = newMessageDigest(SHA256);
    return new Digest(SHA256, HexFormat.of().formatHex(md.digest(data)));
  }

  public static Digest of(String algorithm, byte[] rawDigest) {
    return new Digest(algorithm, HexFormat.of().formatHex(rawDigest));
  }

  public MessageDigest newMessageDigest() {
    return newMessageDigest(algorithm);
  }

  public static MessageDigest newMessageDigest(String algorithm) {
    try {
      return MessageDigest.getInstance(switch (algorithm) {
        case SHA256 -> "SHA-256";
        case SHA512 -> "SHA-512";
        default -> throw new IllegalArgumentException("unsupported digest algorithm: " + algorithm);
      });
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("JDK lacks " + algorithm, e);
    }
  }

  @Override
  public int compareTo(Digest o) {
    return toString().compareTo(o.toString());
  }

  @Override
  public String toString() {
    return algorithm + ":" + hex;
  }
}
