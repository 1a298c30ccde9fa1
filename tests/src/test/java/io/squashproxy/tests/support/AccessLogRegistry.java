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
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real CNCF Distribution registry ({@code docker-registry serve}) on a free 127.0.0.1 port, like
 * {@link DistributionRegistry}, but with its access log on, so a test can count the requests a proxy made
 * upstream ({@code "GET /v2/NAME/blobs/sha256:... HTTP/1.1" 200}). Also reads and writes raw manifests over
 * HTTP (for byte-exact comparisons and for pushing hand-written image indexes). Plain http, no auth.
 */
public final class AccessLogRegistry implements AutoCloseable {

  /** One access log line: {@code 127.0.0.1 - - [date] "METHOD URI HTTP/1.1" STATUS BYTES "referer" "agent"}. */
  private static final Pattern ACCESS = Pattern.compile(
      "^\\S+ \\S+ \\S+ \\[[^\\]]*\\] \"([A-Z]+) (\\S+) HTTP/[0-9.]+\" (\\d{3}) (\\S+) \"[^\"]*\" \"([^\"]*)\"",
      Pattern.MULTILINE);

  /** The proxy's upstream client identifies itself with this user agent prefix. */
  public static final String PROXY_AGENT = "squash-proxy";

  public static final String MANIFEST_ACCEPT = String.join(", ",
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.v2+json");

  /**
   * One request the registry served.
   *
   * @param bytes the response body's length as sent (a 206 answer's range only; 0 for none)
   */
  public record Request(String method, String uri, int status, long bytes, String userAgent) {}

  private final DistributionRegistry registry;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private AccessLogRegistry(DistributionRegistry registry) {
    this.registry = registry;
  }

  public static AccessLogRegistry start() {
    return new AccessLogRegistry(DistributionRegistry.start(true));
  }

  /** As {@link #start()}, sending its push events to {@code url} (see Distribution's notifications). */
  public static AccessLogRegistry startNotifying(String url, String authorization) {
    return new AccessLogRegistry(DistributionRegistry.startNotifying(url, authorization));
  }

  /** With the notifications section of {@code registryConfig} (see DistributionRegistry#startNotifyingAs). */
  public static AccessLogRegistry startNotifyingAs(java.nio.file.Path registryConfig, String url)
      throws java.io.IOException {
    return new AccessLogRegistry(DistributionRegistry.startNotifyingAs(registryConfig, url));
  }

  /** {@code 127.0.0.1:PORT}. */
  public String host() {
    return registry.host();
  }

  /** {@code http://127.0.0.1:PORT}. */
  public String url() {
    return "http://" + host();
  }

  /** A skopeo reference, {@code docker://127.0.0.1:PORT/REPO}. */
  public String ref(String repoAndTag) {
    return "docker://" + host() + "/" + repoAndTag;
  }

  public String log() {
    return registry.log();
  }

  /** Every request in the access log so far, in order. */
  public List<Request> requests() {
    List<Request> out = new ArrayList<>();
    Matcher m = ACCESS.matcher(log());
    while (m.find()) {
      long bytes = m.group(4).equals("-") ? 0 : Long.parseLong(m.group(4));
      out.add(new Request(m.group(1), m.group(2), Integer.parseInt(m.group(3)), bytes, m.group(5)));
    }
    return out;
  }

  /**
   * The access log after it settled: the registry writes a line once the handler returns, which can be a
   * moment after the client read the last byte. Waits until no new line came for {@code quiet}.
   */
  public List<Request> settledRequests() {
    Duration quiet = Duration.ofMillis(500);
    long size = -1;
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      long now = fileSize();
      if (now == size) {
        break;
      }
      size = now;
      DistributionRegistry.sleep(quiet.toMillis());
    }
    return requests();
  }

  private long fileSize() {
    try {
      return Files.size(registry.logFile());
    } catch (IOException e) {
      return -1;
    }
  }

  /**
   * How many times the proxy (user agent {@value #PROXY_AGENT}) fetched each blob of {@code repo} with GET
   * (any status), by digest. Requests of other clients (skopeo making reference copies) are not counted.
   */
  public Map<String, Integer> blobGets(String repo) {
    Map<String, Integer> counts = new TreeMap<>();
    String prefix = "/v2/" + repo + "/blobs/";
    for (Request r : settledRequests()) {
      if (r.method().equals("GET") && r.uri().startsWith(prefix) && r.userAgent().startsWith(PROXY_AGENT)) {
        String digest = r.uri().substring(prefix.length());
        int q = digest.indexOf('?');
        counts.merge(q < 0 ? digest : digest.substring(0, q), 1, Integer::sum);
      }
    }
    return counts;
  }

  /** Total blob GETs for {@code repo}. */
  public int blobGetCount(String repo) {
    return blobGets(repo).values().stream().mapToInt(Integer::intValue).sum();
  }

  /** Every request to {@code /v2/REPO/...} from a user agent starting with {@code agentPrefix}. */
  public List<Request> requests(String repo, String agentPrefix) {
    String prefix = "/v2/" + repo + "/";
    return settledRequests().stream().filter(r -> r.uri().startsWith(prefix)
        && r.userAgent().startsWith(agentPrefix)).toList();
  }

  /** The proxy's requests with this method whose URI starts with {@code /v2/REPO/manifests/}. */
  public int manifestRequests(String repo, String method) {
    String prefix = "/v2/" + repo + "/manifests/";
    return (int) settledRequests().stream().filter(r -> r.method().equals(method) && r.uri().startsWith(prefix)
        && r.userAgent().startsWith(PROXY_AGENT)).count();
  }

  /** A manifest as the registry serves it (bytes, media type, digest header). */
  public RawManifest manifest(String repo, String reference) {
    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(URI.create(url() + "/v2/" + repo + "/manifests/" + reference))
        .header("Accept", MANIFEST_ACCEPT).GET());
    if (r.statusCode() != 200) {
      throw new AssertionError("GET " + repo + "/manifests/" + reference + " from the registry: " + r.statusCode()
          + " " + new String(r.body(), StandardCharsets.UTF_8));
    }
    return RawManifest.of(r);
  }

  /** {@code PUT /v2/REPO/manifests/TAG}; returns the digest the registry gave it. */
  public String putManifest(String repo, String tag, String mediaType, byte[] body) {
    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(URI.create(url() + "/v2/" + repo + "/manifests/" + tag))
        .header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(body)));
    if (r.statusCode() != 201) {
      throw new AssertionError("PUT " + repo + "/manifests/" + tag + ": " + r.statusCode() + " "
          + new String(r.body(), StandardCharsets.UTF_8));
    }
    return r.headers().firstValue("Docker-Content-Digest").orElseThrow();
  }

  private HttpResponse<byte[]> send(HttpRequest.Builder b) {
    try {
      return http.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  @Override
  public void close() {
    registry.close();
  }
}
