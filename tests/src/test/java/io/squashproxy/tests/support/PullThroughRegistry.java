package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * CNCF Distribution's own pull-through cache ({@code docker-registry serve} with {@code proxy.remoteurl}) in
 * front of an upstream, on a free 127.0.0.1 port with its own empty storage: the reference a pull through
 * Squash Proxy is compared with. Plain http, no auth.
 */
public final class PullThroughRegistry implements AutoCloseable {

  private final Scratch scratch;
  private final Process process;
  private final int port;

  private PullThroughRegistry(Scratch scratch, Process process, int port) {
    this.scratch = scratch;
    this.process = process;
    this.port = port;
  }

  /** @param upstreamUrl e.g. {@code http://127.0.0.1:5000} */
  public static PullThroughRegistry start(String upstreamUrl) {
    Env.requireTools("docker-registry");
    Scratch scratch = Scratch.create("mirror");
    try {
      AssertionError last = null;
      for (int attempt = 0; attempt < 3; attempt++) {
        int port = Proc.freePort();
        Path config = scratch.resolve("config-" + attempt + ".yml");
        Path log = scratch.resolve("registry-" + attempt + ".log");
        Files.writeString(config, String.join("\n",
            "version: 0.1",
            "log: { level: warn, accesslog: { disabled: true } }",
            "storage:",
            "  filesystem: { rootdirectory: " + scratch.dir("storage-" + attempt) + " }",
            "  delete: { enabled: true }",
            "http: { addr: 127.0.0.1:" + port + " }",
            "proxy: { remoteurl: " + upstreamUrl + " }",
            ""));
        Process p = Proc.of("docker-registry", "serve", config.toString()).startBackground(log);
        try {
          HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(2)).build();
          Proc.awaitHttp200(p, http, URI.create("http://127.0.0.1:" + port + "/v2/"), Duration.ofSeconds(20),
              "docker-registry (pull-through)", log);
          return new PullThroughRegistry(scratch, p, port);
        } catch (AssertionError e) {
          Proc.stop(p, Duration.ofSeconds(5));
          last = e;
        }
      }
      throw last;
    } catch (IOException e) {
      scratch.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      scratch.close();
      throw e;
    }
  }

  /** {@code docker://127.0.0.1:PORT/REPO[:TAG]}. */
  public String ref(String repoAndTag) {
    return "docker://127.0.0.1:" + port + "/" + repoAndTag;
  }

  @Override
  public void close() {
    try {
      Proc.stop(process, Duration.ofSeconds(5));
    } finally {
      scratch.close();
    }
  }
}
