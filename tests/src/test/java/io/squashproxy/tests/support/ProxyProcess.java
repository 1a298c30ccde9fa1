package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;

/**
 * The proxy as users run it: {@code java -jar squash-proxy.jar serve --upstream URL --listen 127.0.0.1:PORT
 * --cache-dir DIR} in its own process, on a free port, with its own cache dir under a temp dir, optionally
 * with a YAML config file. Ready once {@code GET /v2/} answers 200. Its log (stdout and stderr) is kept in a
 * file; {@link #squashes()} parses its {@code squashed NAME@SRC -> NEW: layers A -> B, ...} lines.
 */
public final class ProxyProcess implements AutoCloseable {

  private static final Pattern SQUASHED = Pattern.compile(
      " - squashed (\\S+)@(sha256:[0-9a-f]{64}) -> (sha256:[0-9a-f]{64}): layers (\\d+) -> (\\d+), (.*)$",
      Pattern.MULTILINE);

  /** One {@code squashed} log line. */
  public record Squash(String name, String source, String result, int layersBefore, int layersAfter,
      String details) {}

  private final Scratch scratch;
  private final Process process;
  private final int port;
  private final Path log;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  /** Set by {@link #startTls}: the listener speaks HTTPS; {@link #url()} and {@link #get} use this client. */
  private HttpClient tlsHttp;

  private Path cacheDir;

  private ProxyProcess(Scratch scratch, Process process, int port, Path log, int adminPort) {
    this.scratch = scratch;
    this.process = process;
    this.port = port;
    this.log = log;
    this.adminPort = adminPort;
  }

  private final int adminPort;

  /** {@code http://127.0.0.1:ADMIN} (status page, /metrics, /healthz, /readyz). */
  public String adminUrl() {
    return "http://127.0.0.1:" + adminPort;
  }

  /**
   * The {@code --squash-wait} the tests start the proxy with, unless they say otherwise: long, so that the
   * first pull of an image waits for its squash and a test about what a squash makes can pull once. The
   * shipped default ({@code 0s}: the first pull gets the original) is tested with {@link #startShippedWait}.
   */
  static final String TEST_SQUASH_WAIT = "10m";

  /**
   * The rule the tests of the squash itself run with: every image into one layer ({@code mode: all}), whether
   * or not it wastes bytes. Every start method adds it to a config that has no {@code squash} section, except
   * {@link #startDefault}: the shipped default ({@code auto}) has tests of its own.
   */
  public static final String SQUASH_ALL = "squash:\n  rules:\n    - {match: '**', mode: all}\n";

  /** {@code serve --upstream UPSTREAM_URL} squashing every image into one layer ({@link #SQUASH_ALL}). */
  public static ProxyProcess start(String upstreamUrl) {
    return start(upstreamUrl, null);
  }

  /**
   * {@code serve --upstream UPSTREAM_URL} with {@code configYaml} as it is (the built-in squash rules, {@code
   * auto}, when it has none), and the tests' {@code --squash-wait}.
   */
  public static ProxyProcess startDefault(String upstreamUrl, String configYaml) {
    return start(upstreamUrl, configYaml, null, null, TEST_JVM, false, TEST_SQUASH_WAIT);
  }

  /**
   * As {@link #start(String)}, with {@code configYaml} (when not null) written to a file and passed with
   * {@code --config}; the flags still set the upstream, listener and cache dir.
   */
  public static ProxyProcess start(String upstreamUrl, String configYaml) {
    return start(upstreamUrl, configYaml, null);
  }

  /**
   * As {@link #start(String, String)} for a config with {@code tls: {cert, key}}: ready once
   * {@code GET https://127.0.0.1:PORT/v2/} answers 200 to a client trusting {@code trust}; {@link #url()},
   * {@link #get} and {@link #manifest} then speak HTTPS with that trust.
   */
  public static ProxyProcess startTls(String upstreamUrl, String configYaml, SSLContext trust) {
    return start(upstreamUrl, Objects.requireNonNull(configYaml), Objects.requireNonNull(trust));
  }

  /**
   * As {@link #start(String, String)}, caching in {@code cacheDir} (which outlives this process: a restart
   * on the same directory finds what the last one cached). {@code configYaml} may be null.
   */
  public static ProxyProcess startWithCache(String upstreamUrl, String configYaml, Path cacheDir) {
    return start(upstreamUrl, configYaml, null, cacheDir, TEST_JVM);
  }

  /** The JVM flags tests start the proxy with: small and quick to start, not tuned for speed. */
  static final List<String> TEST_JVM = List.of("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
      "-Xshare:auto");

  /**
   * As {@link #start(String, String)} with the JVM's own defaults (the optimising JIT, the default GC) as the
   * container image runs it: for benchmarks. {@code jvmOptions} are added (e.g. a heap cap).
   */
  public static ProxyProcess startForBenchmark(String upstreamUrl, String configYaml, List<String> jvmOptions) {
    return start(upstreamUrl, configYaml, null, null, jvmOptions);
  }

  /**
   * As {@link #start(String, String)}, with extra JVM options for the proxy (e.g.
   * {@code -Dio.netty.leakDetection.level=paranoid}) after the test flags; {@link #pid()} then names the
   * process for {@code /proc/PID/fd} and {@code jcmd}.
   */
  public static ProxyProcess startWithJvmOptions(String upstreamUrl, String configYaml, List<String> jvmOptions) {
    List<String> all = new ArrayList<>(TEST_JVM);
    all.addAll(jvmOptions);
    return start(upstreamUrl, configYaml, null, null, all);
  }

  /**
   * As {@link #start(String, String)} without {@code --squash-wait}: every rule's {@code wait} is the config's
   * (the shipped default when it sets none). {@code jvmOptions} null: the test flags.
   */
  public static ProxyProcess startShippedWait(String upstreamUrl, String configYaml, Path cacheDir,
      List<String> jvmOptions) {
    return start(upstreamUrl, configYaml, null, cacheDir, jvmOptions == null ? TEST_JVM : jvmOptions, true, null);
  }

  private static ProxyProcess start(String upstreamUrl, String configYaml, SSLContext tls) {
    return start(upstreamUrl, configYaml, tls, null, TEST_JVM);
  }

  private static ProxyProcess start(String upstreamUrl, String configYaml, SSLContext tls, Path cacheDir,
      List<String> jvmOptions) {
    return start(upstreamUrl, configYaml, tls, cacheDir, jvmOptions, true, TEST_SQUASH_WAIT);
  }

  private static ProxyProcess start(String upstreamUrl, String givenYaml, SSLContext tls, Path cacheDir,
      List<String> jvmOptions, boolean squashAll, String squashWait) {
    String configYaml = !squashAll || (givenYaml != null && givenYaml.contains("squash:")) ? givenYaml
        : (givenYaml == null ? "" : givenYaml + "\n") + SQUASH_ALL;
    Path jar = Env.squashJar();
    Scratch scratch = Scratch.create("proxy");
    return Proc.startWithRetries(scratch, attempt -> {
      Path config = null;
      if (configYaml != null) {
        config = scratch.resolve("squash-proxy.yaml");
        Files.writeString(config, configYaml);
      }
      int port = Proc.freePort();
      int admin = Proc.freePort();
      Path log = scratch.resolve("proxy-" + attempt + ".log");
      List<String> cmd = new ArrayList<>(List.of(Env.java().toString()));
      cmd.addAll(jvmOptions);
      cmd.addAll(List.of("-jar", jar.toString(), "serve"));
      if (config != null) {
        cmd.addAll(List.of("--config", config.toString()));
      }
      Path cache = cacheDir != null ? cacheDir : scratch.resolve("cache-" + attempt);
      cmd.addAll(List.of("--upstream", upstreamUrl,
          "--listen", "127.0.0.1:" + port,
          "--admin-listen", "127.0.0.1:" + admin,
          "--cache-dir", cache.toString()));
      if (squashWait != null) {
        cmd.addAll(List.of("--squash-wait", squashWait));
      }
      Process p = Proc.of(cmd).env("SQUASH_LOG_LEVEL", "INFO").startBackground(log);
      waitReady(p, port, log, tls);
      ProxyProcess started = new ProxyProcess(scratch, p, port, log, admin);
      started.cacheDir = cache;
      started.tlsHttp = tls == null ? null : client(tls, Duration.ofSeconds(5));
      return started;
    });
  }

  private static HttpClient client(SSLContext tls, Duration connectTimeout) {
    HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(connectTimeout);
    return (tls == null ? b : b.sslContext(tls)).build();
  }

  private static void waitReady(Process p, int port, Path log, SSLContext tls) {
    String scheme = tls == null ? "http" : "https";
    Proc.awaitHttp200OrStop(p, client(tls, Duration.ofSeconds(2)),
        URI.create(scheme + "://127.0.0.1:" + port + "/v2/"), Duration.ofSeconds(60), "the proxy", log);
  }


  /** {@code 127.0.0.1:PORT}. */
  public String host() {
    return "127.0.0.1:" + port;
  }

  /** {@code http://127.0.0.1:PORT}, or {@code https://127.0.0.1:PORT} when started with {@link #startTls}. */
  public String url() {
    return (tlsHttp == null ? "http://" : "https://") + host();
  }

  /** A skopeo reference, {@code docker://127.0.0.1:PORT/REPO[:TAG|@DIGEST]}. */
  public String ref(String repoAndReference) {
    return "docker://" + host() + "/" + repoAndReference;
  }

  /** A docker/podman/ctr image name, {@code 127.0.0.1:PORT/REPO[:TAG|@DIGEST]}. */
  public String image(String repoAndReference) {
    return host() + "/" + repoAndReference;
  }

  public String log() {
    return Proc.readQuietly(log);
  }

  /** The proxy's process id (for CPU accounting and profilers in benchmarks). */
  public long pid() {
    return process.pid();
  }

  /** The cache directory this instance serves from. */
  public Path cacheDir() {
    return cacheDir;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** {@code kill -9}: the process gets no chance to clean up; returns once it is gone. */
  public void kill() {
    Proc.kill(process);
  }

  /** Every {@code squashed} line logged so far. */
  public List<Squash> squashes() {
    List<Squash> out = new ArrayList<>();
    Matcher m = SQUASHED.matcher(log());
    while (m.find()) {
      out.add(new Squash(m.group(1), m.group(2), m.group(3), Integer.parseInt(m.group(4)),
          Integer.parseInt(m.group(5)), m.group(6)));
    }
    return out;
  }

  /** The {@code squashed} lines for one repository name (as the proxy routed it). */
  public List<Squash> squashes(String name) {
    return squashes().stream().filter(s -> s.name().equals(name)).toList();
  }

  /**
   * Blob GETs clients sent for {@code repo}, digest to count, from the access log (the proxy must run with
   * {@code logging: {accessLog: true}}).
   */
  public Map<String, Integer> clientBlobGets(String repo) {
    Map<String, Integer> out = new java.util.TreeMap<>();
    Matcher m = Pattern.compile("\"GET /v2/" + Pattern.quote(repo) + "/blobs/(sha256:[0-9a-f]{64})\" (\\d+)")
        .matcher(log());
    while (m.find()) {
      out.merge(m.group(1), 1, Integer::sum);
    }
    return out;
  }

  /** One access log line: {@code "METHOD URI" STATUS BYTES}. */
  public record Access(String method, String uri, int status, long bytes) {}

  /** Every access log line so far (the proxy must run with {@code logging: {accessLog: true}}). */
  public List<Access> accessLog() {
    List<Access> out = new ArrayList<>();
    Matcher m = Pattern.compile("\"(\\S+) (\\S+)\" (\\d+) (\\d+) \\d+ms").matcher(log());
    while (m.find()) {
      out.add(new Access(m.group(1), m.group(2), Integer.parseInt(m.group(3)), Long.parseLong(m.group(4))));
    }
    return out;
  }

  /** How many log lines start (after the logback prefix) with {@code squashed }. */
  public long squashLineCount() {
    return log().lines().filter(l -> l.contains(" - squashed ")).count();
  }

  /** {@code GET /v2/REPO/manifests/REF} with every manifest media type accepted. */
  public RawManifest manifest(String repo, String reference) {
    HttpResponse<byte[]> r = get("/v2/" + repo + "/manifests/" + reference, AccessLogRegistry.MANIFEST_ACCEPT);
    if (r.statusCode() != 200) {
      throw new AssertionError("GET " + repo + "/manifests/" + reference + " through the proxy: "
          + r.statusCode() + " " + new String(r.body(), StandardCharsets.UTF_8) + "\nproxy log:\n" + tail());
    }
    return RawManifest.of(r);
  }

  /** A GET against the proxy; {@code accept} may be null. */
  public HttpResponse<byte[]> get(String path, String accept) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofMinutes(3)).GET();
    if (accept != null) {
      b.header("Accept", accept);
    }
    try {
      return (tlsHttp == null ? http : tlsHttp).send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** The last lines of the log, for failure messages. */
  public String tail() {
    String s = log();
    return s.length() > 6000 ? "..." + s.substring(s.length() - 6000) : s;
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
