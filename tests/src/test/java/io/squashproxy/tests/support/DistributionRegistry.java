package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A real CNCF Distribution registry ({@code docker-registry serve}) on a free 127.0.0.1 port, with its own
 * storage in a temp dir. Plain http, no auth.
 */
public final class DistributionRegistry implements AutoCloseable {

  private final Scratch scratch;
  private volatile Process process;
  private final int port;
  private final Path log;
  private Path config;

  private DistributionRegistry(Scratch scratch, Process process, int port, Path log) {
    this.scratch = scratch;
    this.process = process;
    this.port = port;
    this.log = log;
  }

  public static DistributionRegistry start() {
    return start(false);
  }

  /** @param accessLog with the registry's access log (one line per request) in {@link #logFile()} */
  public static DistributionRegistry start(boolean accessLog) {
    Env.requireTools("docker-registry");
    Scratch scratch = Scratch.create("reg");
    try {
      AssertionError last = null;
      for (int attempt = 0; attempt < 3; attempt++) {
        int port = Proc.freePort();
        Path storage = scratch.dir("storage");
        Path config = scratch.resolve("config-" + attempt + ".yml");
        Path log = scratch.resolve("registry-" + attempt + ".log");
        Files.writeString(config, String.join("\n",
            "version: 0.1",
            // Level warn keeps the application log quiet; the access log (combined format) is apart from it.
            "log: { level: warn, accesslog: { disabled: " + !accessLog + " } }",
            "storage:",
            "  filesystem: { rootdirectory: " + storage + " }",
            "  delete: { enabled: true }",
            "http: { addr: 127.0.0.1:" + port + " }",
            ""));
        Process p = Proc.of("docker-registry", "serve", config.toString()).startBackground(log);
        try {
          waitReady(p, port, log);
          DistributionRegistry started = new DistributionRegistry(scratch, p, port, log);
          started.config = config;
          return started;
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

  private static void waitReady(Process p, int port, Path log) {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    Proc.awaitHttp200(p, http, URI.create("http://127.0.0.1:" + port + "/v2/"), Duration.ofSeconds(20),
        "docker-registry", log);
  }


  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** Kills the registry at once (SIGKILL), as a crash or a pulled plug would; {@link #restart} revives it. */
  public void kill() {
    Proc.kill(process);
  }

  /** Starts the registry again after {@link #kill}, on the same port and storage. */
  public void restart() {
    Process p = Proc.of("docker-registry", "serve", config.toString()).startBackground(log);
    waitReady(p, port, log);
    process = p;
  }

  /** {@code 127.0.0.1:PORT}. */
  public String host() {
    return "127.0.0.1:" + port;
  }

  /** A skopeo/docker reference, {@code docker://127.0.0.1:PORT/REPO}. */
  public String ref(String repoAndTag) {
    return "docker://" + host() + "/" + repoAndTag;
  }

  public String log() {
    return Proc.readQuietly(log);
  }

  public Path logFile() {
    return log;
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
