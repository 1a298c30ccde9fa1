package io.squashproxy.proxy.registry;

import io.squashproxy.core.digest.Digest;
import java.util.regex.Pattern;

/** The distribution spec's grammar for repository names, tags and digests, checked before going upstream. */
public final class Names {
  /** {@code [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*} */
  private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*");
  /** {@code [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}} */
  private static final Pattern TAG = Pattern.compile("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  /** A registry host (with optional port) as the first component of a mirrored name. */
  private static final Pattern HOST = Pattern.compile(
      "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?");
  /** Distribution's limit on the length of a repository name. */
  public static final int MAX_NAME_LENGTH = 255;

  private Names() {}

  /**
   * True for a valid name. The first component may be a registry host ({@code ghcr.io}, {@code host:5000}):
   * such names address an upstream by prefix.
   */
  public static boolean isValidName(String name) {
    if (name == null || name.isEmpty() || name.length() > MAX_NAME_LENGTH) {
      return false;
    }
    String[] parts = name.split("/", -1);
    for (int i = 0; i < parts.length; i++) {
      boolean ok = COMPONENT.matcher(parts[i]).matches()
          || (i == 0 && parts.length > 1 && looksLikeHost(parts[0]));
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  /** A first component that names a registry: has a dot or a port, or is localhost (docker's rule). */
  public static boolean looksLikeHost(String component) {
    return (component.contains(".") || component.contains(":") || component.equals("localhost"))
        && HOST.matcher(component).matches();
  }

  public static boolean isValidTag(String tag) {
    return tag != null && TAG.matcher(tag).matches();
  }

  public static boolean isDigest(String reference) {
    return reference != null && reference.contains(":");
  }

  /** Parses a digest reference, or throws the spec's error for it. */
  public static Digest digest(String reference, ErrorCode onError) {
    try {
      return Digest.parse(reference);
    } catch (IllegalArgumentException e) {
      throw new RegistryException(onError, "invalid digest: " + e.getMessage());
    }
  }

  /**
   * An image reference split as docker reads it: {@code name[:tag]} or {@code name@digest}; the tag defaults to
   * {@code latest}. {@code reference} is the tag or the digest text; nothing is validated here.
   */
  public record Reference(String name, String reference) {
    public static Reference parse(String text) {
      int at = text.indexOf('@');
      int colon = text.lastIndexOf(':');
      if (at > 0) {
        return new Reference(text.substring(0, at), text.substring(at + 1));
      }
      if (colon > text.lastIndexOf('/')) {
        return new Reference(text.substring(0, colon), text.substring(colon + 1));
      }
      return new Reference(text, "latest");
    }
  }
}
