package io.squashproxy.proxy.app;

import java.net.InetSocketAddress;

/** {@code HOST:PORT} (or {@code [v6]:PORT}) as listeners are configured. */
public final class HostPort {
  private HostPort() {}

  public static InetSocketAddress parse(String text) {
    int colon = text.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("expected HOST:PORT, got " + text);
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = Integer.parseInt(text.substring(colon + 1));
    return new InetSocketAddress(host.isEmpty() ? "0.0.0.0" : host, port);
  }
}
