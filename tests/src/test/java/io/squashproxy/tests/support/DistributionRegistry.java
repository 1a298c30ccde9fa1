package io.squashproxy.tests.support;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A real CNCF Distribution registry ({@code docker-registry serve}) on a free 127.0.0.1 port, with its own
 * storage in a temp dir. Plain http, no auth.
 */
public final class DistributionRegistry implements AutoCloseable {

  private final Scratch scratch;
  private volatile Process process;
  private final int port;
  private final Path log;
  private final Path config;
  /** Names the registry in a failure to start. */
  private final String what;

  private DistributionRegistry(Scratch scratch, Process process, int port, Path log, Path config, String what) {
    this.scratch = scratch;
    this.process = process;
    this.port = port;
    this.log = log;
    this.config = config;
    this.what = what;
  }

  public static DistributionRegistry start() {
    return start(false);
  }

  /** @param accessLog with the registry's access log (one line per request) in {@link #logFile()} */
  public static DistributionRegistry start(boolean accessLog) {
    return start("reg", accessLog, null, "docker-registry");
  }

  /**
   * Distribution's own pull-through cache of {@code upstreamUrl} ({@code proxy.remoteurl}), access log off:
   * see {@link PullThroughRegistry}.
   */
  static DistributionRegistry startPullThrough(String upstreamUrl) {
    return start("mirror", false, upstreamUrl, "docker-registry (pull-through)");
  }

  /**
   * With its access log and a {@code notifications.endpoints} entry: push events are POSTed to {@code url}
   * with {@code Authorization: AUTHORIZATION}.
   */
  static DistributionRegistry startNotifying(String url, String authorization) {
    return start("reg", true, null, "docker-registry (notifying)", String.join("\n",
        "notifications:",
        "  endpoints:",
        "    - name: squash-proxy",
        "      url: " + url,
        "      headers: { Authorization: [\"" + authorization + "\"] }",
        "      timeout: 2s",
        "      threshold: 5",
        "      backoff: 1s"));
  }

  /**
   * With the {@code notifications:} section of a registry config file as it is (deploy/compose's), only its
   * endpoint's {@code url} pointed at {@code url}: the test runs the shipped settings, not a copy of them.
   */
  static DistributionRegistry startNotifyingAs(Path registryConfig, String url) throws java.io.IOException {
    List<String> section = new java.util.ArrayList<>();
    boolean in = false;
    for (String line : Files.readAllLines(registryConfig)) {
      if (!line.isEmpty() && !Character.isWhitespace(line.charAt(0)) && !line.startsWith("#")) {
        in = line.startsWith("notifications:");
      }
      if (in) {
        section.add(line.replaceFirst("^(\\s+url:\\s*)\\S+", "$1" + url));
      }
    }
    if (section.isEmpty()) {
      throw new AssertionError(registryConfig + " has no notifications section");
    }
    return start("reg", true, null, "docker-registry (notifying, " + registryConfig.getFileName() + ")",
        String.join("\n", section));
  }

  private static DistributionRegistry start(String scratchName, boolean accessLog, String remoteUrl, String what) {
    return start(scratchName, accessLog, remoteUrl, what, "");
  }

  private static DistributionRegistry start(String scratchName, boolean accessLog, String remoteUrl, String what,
      String extra) {
    Env.requireTools("docker-registry");
    Scratch scratch = Scratch.create(scratchName);
    return Proc.startWithRetries(scratch, attempt -> {
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
          remoteUrl == null ? "" : "proxy: { remoteurl: " + remoteUrl + " }",
          extra,
          ""));
      Process p = Proc.of("docker-registry", "serve", config.toString()).startBackground(log);
      waitReady(p, port, log, what);
      return new DistributionRegistry(scratch, p, port, log, config, what);
    });
  }

  private static void waitReady(Process p, int port, Path log, String what) {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    Proc.awaitHttp200OrStop(p, http, URI.create("http://127.0.0.1:" + port + "/v2/"), Duration.ofSeconds(20),
        what, log);
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
    waitReady(p, port, log, what);
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
