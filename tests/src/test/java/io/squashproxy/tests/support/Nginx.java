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
    Env.requireTools("nginx");
    StringBuilder locations = new StringBuilder();
    types.forEach((name, type) -> locations.append("    location = /").append(name)
        .append(" { default_type \"").append(type).append("\"; }\n"));
    AssertionError last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      port = Proc.freePort();
      Path conf = scratch.resolve("nginx-" + attempt + ".conf");
      Path tmp = scratch.dir("tmp");
      String text = String.join("\n",
          "worker_processes " + Runtime.getRuntime().availableProcessors() + ";",
          Env.isRoot() ? "user root;" : "",
          "pid " + scratch.resolve("nginx.pid") + ";",
          "error_log " + scratch.resolve("error.log") + " warn;",
          "events { worker_connections 4096; }",
          "http {",
          "  access_log off;",
          "  sendfile on;",
          "  tcp_nopush on;",
          "  tcp_nodelay on;",
          "  keepalive_requests 100000000;",
          "  keepalive_timeout 120s;",
          "  client_body_temp_path " + tmp + ";",
          "  proxy_temp_path " + tmp + ";",
          "  fastcgi_temp_path " + tmp + ";",
          "  uwsgi_temp_path " + tmp + ";",
          "  scgi_temp_path " + tmp + ";",
          "  types { }",
          "  default_type application/octet-stream;",
          "  server {",
          "    listen 127.0.0.1:" + port + ";",
          "    root " + root + ";",
          locations + "  }",
          "}",
          "");
      try {
        Files.writeString(conf, text);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Path log = scratch.resolve("nginx-" + attempt + ".log");
      process = Proc.of("nginx", "-c", conf.toString(), "-p", scratch.path().toString(), "-g", "daemon off;")
          .startBackground(log);
      try {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        String probe = types.isEmpty() ? "" : types.keySet().iterator().next();
        Proc.awaitHttp200(process, http, URI.create(url(probe)), Duration.ofSeconds(20), "nginx", log);
        return this;
      } catch (AssertionError e) {
        Proc.stop(process, Duration.ofSeconds(5));
        last = e;
      }
    }
    close();
    throw last;
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
