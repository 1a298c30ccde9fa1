package io.squashproxy.tests.support;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One HTTP/1.1 client connection with keep-alive, on a blocking socket: what a pulling client holds open.
 * Small and strict on purpose (a load test must see every malformed response): Content-Length bodies only.
 */
public final class KeepAliveClient implements AutoCloseable {
  public record Response(int status, Map<String, String> headers, byte[] body) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  private final String host;
  private final int port;
  private Socket socket;
  private InputStream in;
  private OutputStream out;
  private int connections;

  public KeepAliveClient(String host, int port) {
    this.host = host;
    this.port = port;
  }

  /** Connections opened so far (1 when keep-alive held throughout). */
  public int connections() {
    return connections;
  }

  public Response request(String method, String path, Map<String, String> headers) throws IOException {
    if (socket == null) {
      socket = new Socket(host, port);
      socket.setSoTimeout(120_000);
      socket.setTcpNoDelay(true);
      in = new BufferedInputStream(socket.getInputStream(), 1 << 16);
      out = new BufferedOutputStream(socket.getOutputStream());
      connections++;
    }
    StringBuilder sb = new StringBuilder(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ")
        .append(host).append(':').append(port).append("\r\n");
    headers.forEach((k, v) -> sb.append(k).append(": ").append(v).append("\r\n"));
    sb.append("\r\n");
    out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
    String status = line();
    if (status == null) {
      close();
      throw new IOException("connection closed before a response to " + method + " " + path);
    }
    String[] parts = status.split(" ", 3);
    if (parts.length < 2 || !parts[0].equals("HTTP/1.1")) {
      throw new IOException("bad status line: " + status);
    }
    Map<String, String> h = new LinkedHashMap<>();
    for (String l = line(); l != null && !l.isEmpty(); l = line()) {
      int c = l.indexOf(':');
      if (c <= 0) {
        throw new IOException("bad header line: " + l);
      }
      h.put(l.substring(0, c).trim().toLowerCase(Locale.ROOT), l.substring(c + 1).trim());
    }
    int code = Integer.parseInt(parts[1]);
    byte[] body = new byte[0];
    if (!method.equals("HEAD") && code != 304) {
      String len = h.get("content-length");
      if (len == null) {
        throw new IOException("no Content-Length in " + status + " " + h);
      }
      body = in.readNBytes(Integer.parseInt(len));
      if (body.length != Integer.parseInt(len)) {
        throw new IOException("body truncated: " + body.length + " of " + len);
      }
    }
    if ("close".equalsIgnoreCase(h.get("connection"))) {
      close();
    }
    return new Response(code, h, body);
  }

  private String line() throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream(64);
    for (int c = in.read(); ; c = in.read()) {
      if (c < 0) {
        return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
      }
      if (c == '\n') {
        String s = b.toString(StandardCharsets.ISO_8859_1);
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
      }
      b.write(c);
    }
  }

  /** Drops the connection (after a failed request); the next request opens a new one. */
  public void disconnect() {
    close();
  }

  @Override
  public void close() {
    if (socket != null) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing anyway
      }
      socket = null;
    }
  }
}
