package io.squashproxy.proxy.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A client that writes raw bytes to a socket and reads HTTP/1.1 responses back one at a time, so tests can
 * send what no well-behaved client library would (oversized lines, broken request lines, pipelined
 * requests) and see exactly how the connection ends: a clean close (EOF) or a reset.
 */
final class RawHttp implements AutoCloseable {
  /** One response: status, headers (lower-case names), body. */
  record Response(int status, Map<String, String> headers, byte[] body) {
    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  /** How a connection ended when we read past the last response. */
  enum End { EOF, RESET, OPEN }

  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  RawHttp(int port, int readTimeoutMillis) throws IOException {
    socket = new Socket("127.0.0.1", port);
    socket.setSoTimeout(readTimeoutMillis);
    in = socket.getInputStream();
    out = socket.getOutputStream();
  }

  RawHttp send(String request) throws IOException {
    return send(request.getBytes(StandardCharsets.ISO_8859_1));
  }

  RawHttp send(byte[] request) throws IOException {
    out.write(request);
    out.flush();
    return this;
  }

  /** Reads one response, or throws {@link java.io.EOFException} if the connection closed before one came. */
  Response read(boolean head) throws IOException {
    String statusLine = line();
    if (statusLine == null) {
      throw new java.io.EOFException("connection closed before a response");
    }
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
      throw new IOException("not an HTTP status line: " + statusLine);
    }
    int status = Integer.parseInt(parts[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (String h = line(); h != null && !h.isEmpty(); h = line()) {
      int colon = h.indexOf(':');
      if (colon <= 0) {
        throw new IOException("malformed response header: " + h);
      }
      headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
    }
    byte[] body = new byte[0];
    if (!head && status != 204 && status != 304) {
      String length = headers.get("content-length");
      if (length == null) {
        throw new IOException("response without Content-Length: " + statusLine + " " + headers);
      }
      body = in.readNBytes(Integer.parseInt(length));
      if (body.length != Integer.parseInt(length)) {
        throw new IOException("response body truncated: " + body.length + " of " + length);
      }
    }
    return new Response(status, headers, body);
  }

  Response read() throws IOException {
    return read(false);
  }

  /** What happens next on the connection, waiting up to the read timeout: EOF, a reset, or still open. */
  End end() throws IOException {
    try {
      int b = in.read();
      if (b < 0) {
        return End.EOF;
      }
      throw new IOException("unexpected byte " + b + " after the last response");
    } catch (SocketTimeoutException e) {
      return End.OPEN;
    } catch (SocketException e) {
      return End.RESET;
    }
  }

  private String line() throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    while (true) {
      int c = in.read();
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

  void setReadTimeout(int millis) throws IOException {
    socket.setSoTimeout(millis);
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
