package io.squashproxy.tests.support;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

/**
 * nginx (the Debian package) as a round-robin load balancer on a free 127.0.0.1 port in front of proxy
 * replicas, configured as deploy/compose-scaled/nginx.conf is: no buffering (blobs stream through), no body
 * size cap, and a replica that refuses connections or answers 502 is skipped for the next one
 * ({@code proxy_next_upstream}). Started by {@link Nginx#launch}: config, pid, logs and temp files in a scratch dir.
 */
public final class NginxBalancer implements AutoCloseable {
  private final Scratch scratch;
  private final Process process;
  private final int port;

  private NginxBalancer(Scratch scratch, Process process, int port) {
    this.scratch = scratch;
    this.process = process;
    this.port = port;
  }

  /** @param backends {@code 127.0.0.1:PORT} of each replica */
  public static NginxBalancer start(List<String> backends) {
    Scratch scratch = Scratch.create("nginx");
    Path dir = scratch.path();
    String servers = backends.stream().map(b -> "    server " + b + " max_fails=1 fail_timeout=30s;")
        .collect(Collectors.joining("\n"));
    String main = """
        worker_processes 1;
        events { worker_connections 1024; }""";
    Nginx.Running r = Nginx.launch(scratch, main, port -> """
          access_log DIR/access.log;
          upstream replicas {
        SERVERS
          }
          server {
            listen 127.0.0.1:PORT;
            client_max_body_size 0;
            location / {
              proxy_pass http://replicas;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_set_header Host $http_host;
              proxy_buffering off;
              proxy_request_buffering off;
              proxy_connect_timeout 2s;
              proxy_read_timeout 600s;
              proxy_next_upstream error timeout http_502;
            }
          }""".replace("DIR", dir.toString()).replace("SERVERS", servers).replace("PORT", Integer.toString(port)),
        "v2/", Duration.ofSeconds(30));
    return new NginxBalancer(scratch, r.process(), r.port());
  }

  public String host() {
    return "127.0.0.1:" + port;
  }

  public String url() {
    return "http://" + host();
  }

  /** A skopeo reference through the balancer. */
  public String ref(String repoAndReference) {
    return "docker://" + host() + "/" + repoAndReference;
  }

  /** A docker image name through the balancer. */
  public String image(String repoAndReference) {
    return host() + "/" + repoAndReference;
  }

  public String errorLog() {
    return Proc.readQuietly(scratch.resolve("error.log"));
  }

  @Override
  public void close() {
    try {
      Proc.stop(process, Duration.ofSeconds(10));
    } finally {
      scratch.close();
    }
  }
}
