package io.squashproxy.proxy.upstream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A registry on a raw socket, for body faults an HTTP server library will not produce: a body cut off after
 * N bytes of its announced length, a body that stalls. One request per connection; {@code GET /v2/} answers
 * 200 (no authentication); everything else goes to the handler, which writes the raw response. The
 * connection is closed when the handler returns. Anything that is not an HTTP request (Jib's TLS probe of a
 * plain-http registry) is dropped.
 */
final class ScriptedHttpServer implements AutoCloseable {

  record Request(String method, String path, Map<String, String> headers) {
    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  interface Handler {
    void handle(Request request, OutputStream out) throws IOException, InterruptedException;
  }

  final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
  private final ServerSocket socket;
  private final Handler handler;
  private final List<Socket> open = Collections.synchronizedList(new ArrayList<>());

  ScriptedHttpServer(Handler handler) throws IOException {
    this.handler = handler;
    this.socket = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    Thread t = new Thread(this::accept, "scripted-http");
    t.setDaemon(true);
    t.start();
  }

  String url() {
    return "http://127.0.0.1:" + socket.getLocalPort();
  }

  /** Requests other than the {@code /v2/} ping. */
  List<Request> calls(String path) {
    synchronized (requests) {
      return requests.stream().filter(r -> r.path.equals(path)).toList();
    }
  }

  private void accept() {
    while (!socket.isClosed()) {
      try {
        Socket s = socket.accept();
        open.add(s);
        Thread t = new Thread(() -> serve(s), "scripted-http-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
      String line = in.readLine();
      if (line == null || !line.matches("[A-Z]+ \\S+ HTTP/1\\.[01]")) {
        return;
      }
      String[] parts = line.split(" ");
      Map<String, String> headers = new LinkedHashMap<>();
      for (String h = in.readLine(); h != null && !h.isEmpty(); h = in.readLine()) {
        int colon = h.indexOf(':');
        if (colon > 0) {
          headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
        }
      }
      Request r = new Request(parts[0], parts[1], headers);
      OutputStream out = s.getOutputStream();
      if (r.path.equals("/v2/")) {
        respond(out, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8), Map.of());
        return;
      }
      requests.add(r);
      handler.handle(r, out);
      out.flush();
    } catch (IOException e) {
      // the client went away
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A complete response. */
  static void respond(OutputStream out, int status, String type, byte[] body, Map<String, String> headers)
      throws IOException {
    head(out, status, type, body.length, headers);
    out.write(body);
    out.flush();
  }

  /** Status line and headers announcing {@code length} body bytes. */
  static void head(OutputStream out, int status, String type, long length, Map<String, String> headers)
      throws IOException {
    StringBuilder b = new StringBuilder("HTTP/1.1 " + status + " X\r\n");
    b.append("Content-Type: ").append(type).append("\r\n");
    b.append("Content-Length: ").append(length).append("\r\n");
    b.append("Connection: close\r\n");
    headers.forEach((k, v) -> b.append(k).append(": ").append(v).append("\r\n"));
    b.append("\r\n");
    out.write(b.toString().getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  @Override
  public void close() throws IOException {
    socket.close();
    synchronized (open) {
      for (Socket s : open) {
        s.close();
      }
    }
  }
}
