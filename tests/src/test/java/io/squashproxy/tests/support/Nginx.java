package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * nginx as a reference static file server for benchmarks: its own minimal config in a scratch dir (pid, logs
 * and temp files inside it), {@code daemon off}, one worker per core, {@code sendfile on}, no access log,
 * keep-alive without a request cap, on a free 127.0.0.1 port. Files are added before {@link #start()}, each
 * under a name with its own {@code Content-Type}.
 */
public final class Nginx implements AutoCloseable {

  private final Scratch scratch = Scratch.create("nginx");
  private final Path root = scratch.dir("www");
  private final Map<String, String> types = new LinkedHashMap<>();
  private Process process;
  private int port;

  /**
   * Serves {@code file} as {@code /NAME}: a hard link when possible (same inode, same page cache as the
   * file the proxy serves), else a copy.
   */
  public Nginx file(String name, Path file, String contentType) {
    Path target = root.resolve(name);
    try {
      try {
        Files.createLink(target, file);
      } catch (IOException | UnsupportedOperationException e) {
        Files.copy(file, target, StandardCopyOption.REPLACE_EXISTING);
      }
      // nginx workers may run as another user than the file's owner.
      Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    types.put(name, contentType);
    return this;
  }

  /** Serves {@code bytes} as {@code /NAME}. */
  public Nginx bytes(String name, byte[] bytes, String contentType) {
    try {
      Path f = scratch.resolve(name + ".src");
      Files.write(f, bytes);
      return file(name, f, contentType);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public Nginx start() {
    StringBuilder locations = new StringBuilder();
    types.forEach((name, type) -> locations.append("    location = /").append(name)
        .append(" { default_type \"").append(type).append("\"; }\n"));
    String main = String.join("\n",
        "worker_processes " + Runtime.getRuntime().availableProcessors() + ";",
        "events { worker_connections 4096; }");
    String probe = types.isEmpty() ? "" : types.keySet().iterator().next();
    Running r = launch(scratch, main, listen -> String.join("\n",
        "  access_log off;",
        "  sendfile on;",
        "  tcp_nopush on;",
        "  tcp_nodelay on;",
        "  keepalive_requests 100000000;",
        "  keepalive_timeout 120s;",
        "  types { }",
        "  default_type application/octet-stream;",
        "  server {",
        "    listen 127.0.0.1:" + listen + ";",
        "    root " + root + ";",
        locations + "  }"), probe, Duration.ofSeconds(20));
    process = r.process();
    port = r.port();
    return this;
  }

  /** An nginx started by {@link #launch}, listening on 127.0.0.1:{@code port}. */
  record Running(Process process, int port) {}

  /**
   * Starts nginx in the foreground on a free 127.0.0.1 port, its pid, error log and temp files in
   * {@code scratch} (closed if it cannot start): {@code main} holds the main-context directives (workers,
   * events), {@code http} the http block's own directives for a port. Ready once {@code GET /PROBE} answers
   * 200; retried on fresh ports.
   */
  static Running launch(Scratch scratch, String main, IntFunction<String> http, String probe, Duration max) {
    Env.requireTools("nginx");
    Path tmp = scratch.dir("tmp");
    Path errorLog = scratch.resolve("error.log");
    return Proc.startWithRetries(scratch, attempt -> {
      int port = Proc.freePort();
      Path conf = scratch.resolve("nginx-" + attempt + ".conf");
      Files.writeString(conf, String.join("\n",
          "daemon off;",
          // Workers run as nobody otherwise, who may not read the scratch files.
          Env.isRoot() ? "user root;" : "",
          "pid " + scratch.resolve("nginx.pid") + ";",
          "error_log " + errorLog + " warn;",
          main,
          "http {",
          "  client_body_temp_path " + tmp + ";",
          "  proxy_temp_path " + tmp + ";",
          "  fastcgi_temp_path " + tmp + ";",
          "  uwsgi_temp_path " + tmp + ";",
          "  scgi_temp_path " + tmp + ";",
          http.apply(port),
          "}",
          ""));
      Path log = scratch.resolve("nginx-" + attempt + ".log");
      Process p = Proc.of("nginx", "-c", conf.toString(), "-p", scratch.path().toString(), "-e", errorLog.toString())
          .startBackground(log);
      HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      Proc.awaitHttp200OrStop(p, client, URI.create("http://127.0.0.1:" + port + "/" + probe), max, "nginx",
          errorLog);
      return new Running(p, port);
    });
  }

  /** {@code http://127.0.0.1:PORT/NAME}. */
  public String url(String name) {
    return "http://127.0.0.1:" + port + "/" + name;
  }

  /** The master process id; its workers are its children. */
  public long pid() {
    return process.pid();
  }

  @Override
  public void close() {
    try {
      if (process != null) {
        Proc.stop(process, Duration.ofSeconds(5));
      }
    } finally {
      scratch.close();
    }
  }
}
