package io.squashproxy.proxy.upstream;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * An upstream registry as the proxy pulls from it. Authentication is Jib's ({@link RegistryAuth}, the only
 * other class that imports Jib); the requests themselves go through our own clients ({@link JdkHttp} for
 * manifests, tags and referrers, {@link NettyHttp} for blobs), because Jib re-parses manifests (we must pass them
 * on byte-exact), has no manifest HEAD, and follows blob redirects on its own terms. Redirects are followed
 * here, without our credentials once they leave the registry's host.
 */
public final class JibUpstream implements Upstream {
  private static final String USER_AGENT = "squash-proxy/0.1";
  private static final int MAX_REDIRECTS = 5;

  private final UpstreamSettings settings;
  private final UpstreamHttp http;
  /** Blob GETs: the cold pull streams at this download's speed (see {@link NettyHttp}). */
  private final UpstreamHttp blobHttp;
  private final RegistryAuth auth;
  private final Retrier retrier;

  public JibUpstream(UpstreamSettings settings) {
    this(settings, Retrier.of(settings.retry(), null));
  }

  /** @param retrier runs every request under the settings' retry policy (tests inject its sleeper) */
  public JibUpstream(UpstreamSettings settings, Retrier retrier) {
    this.settings = settings;
    this.retrier = retrier;
    this.http = new JdkHttp(settings);
    this.blobHttp = new NettyHttp(settings);
    this.auth = new RegistryAuth(settings, http, USER_AGENT);
  }

  @Override
  public String name() {
    return settings.name();
  }

  public UpstreamSettings settings() {
    return settings;
  }

  @Override
  public Optional<RawManifest> manifest(String repository, String reference) throws IOException {
    String path = "/manifests/" + reference;
    String what = describe("GET", repository, path);
    return retrier.call(what, () -> {
      UpstreamHttp.Reply r = sendOnce(repository, "GET", path, true, 0);
      if (r == null) {
        return Optional.empty();
      }
      byte[] bytes = readBody(what, r, MAX_MANIFEST_BYTES + 1);
      if (bytes.length > MAX_MANIFEST_BYTES) {
        throw new UpstreamContentException("manifest " + repository + ":" + reference + " is larger than "
            + MAX_MANIFEST_BYTES + " bytes");
      }
      Digest digest = Digest.sha256(bytes);
      if (reference.contains(":")) {
        // Verify in the algorithm that was asked for (sha512 is legal too); the result stays keyed by sha256.
        Digest wanted = Digest.parse(reference);
        Digest actual = wanted.algorithm().equals(digest.algorithm()) ? digest
            : Digest.of(wanted.algorithm(), wanted.newMessageDigest().digest(bytes));
        if (!wanted.equals(actual)) {
          throw new UpstreamContentException("upstream manifest " + repository + "@" + reference
              + " has digest " + actual);
        }
      }
      String mediaType = r.header("Content-Type").orElse(null);
      return Optional.of(new RawManifest(bytes, mediaType, digest));
    });
  }

  /** Manifests are JSON documents; 4 MiB is Distribution's own limit. */
  public static final int MAX_MANIFEST_BYTES = 4 << 20;

  @Override
  public Optional<ManifestHead> headManifest(String repository, String reference) throws IOException {
    String path = "/manifests/" + reference;
    UpstreamHttp.Reply r = retrier.call(describe("HEAD", repository, path),
        () -> sendOnce(repository, "HEAD", path, true, 0));
    if (r == null) {
      return Optional.empty();
    }
    r.body().close();
    Optional<String> digest = r.header("Docker-Content-Digest");
    if (digest.isEmpty() || !Digest.isValid(digest.get())) {
      // Some registries omit the header on HEAD; fall back to a GET (which Docker Hub counts as a pull).
      return manifest(repository, reference)
          .map(m -> new ManifestHead(m.digest(), m.mediaType(), m.bytes().length));
    }
    long size = r.contentLength();
    return Optional.of(new ManifestHead(Digest.parse(digest.get()),
        r.header("Content-Type").orElse(null), size));
  }

  /**
   * Opens a blob. A body that breaks off (reset, truncated, stalled past the idle timeout) is asked for
   * again from where it stopped, within the retry policy; the caller's digest check covers the whole.
   */
  @Override
  public Optional<BlobStream> blob(String repository, Digest digest) throws IOException {
    String path = "/blobs/" + digest;
    String what = describe("GET", repository, path);
    UpstreamHttp.Reply r = retrier.call(what, () -> sendOnce(repository, "GET", path, false, 0));
    if (r == null) {
      return Optional.empty();
    }
    long size = r.contentLength();
    InputStream body = new ResumingInputStream(what, r.body(), size, retrier,
        offset -> reopenBlob(repository, path, offset));
    return Optional.of(new BlobStream(body, size));
  }

  /** The blob's body from byte {@code offset} on: a 206 for our range, or a 200 with the prefix skipped. */
  private InputStream reopenBlob(String repository, String path, long offset) throws IOException {
    UpstreamHttp.Reply r = sendOnce(repository, "GET", path, false, offset);
    if (r == null) {
      throw new UpstreamException(404, settings.name() + " no longer has " + repository + path, null, null);
    }
    InputStream body = r.body();
    if (offset == 0) {
      return body;
    }
    if (r.status() == 206) {
      String range = r.header("Content-Range").orElse("");
      if (!range.startsWith("bytes " + offset + "-")) {
        body.close();
        throw new UpstreamException(502, settings.name() + " answered range " + offset + "- of " + repository
            + path + " with '" + range + "'", null, null);
      }
      return body;
    }
    body.skipNBytes(offset); // upstream ignored the range: what we passed on already comes again first
    return body;
  }

  @Override
  public Optional<TagPage> tags(String repository, Integer n, String last) throws IOException {
    StringBuilder q = new StringBuilder("/tags/list");
    String sep = "?";
    if (n != null) {
      q.append(sep).append("n=").append(n);
      sep = "&";
    }
    if (last != null) {
      q.append(sep).append("last=").append(URLEncoder.encode(last, StandardCharsets.UTF_8));
    }
    String path = q.toString();
    String what = describe("GET", repository, path);
    return retrier.call(what, () -> {
      UpstreamHttp.Reply r = sendOnce(repository, "GET", path, false, 0);
      if (r == null) {
        return Optional.empty();
      }
      return Optional.of(new TagPage(readBody(what, r, MAX_MANIFEST_BYTES),
          r.header("Link").orElse(null)));
    });
  }

  /** The same request path as tag lists (authentication, redirects, retries); Jib has no referrers call. */
  @Override
  public Optional<ReferrersPage> referrers(String repository, Digest subject, String artifactType)
      throws IOException {
    String path = "/referrers/" + subject + (artifactType == null ? ""
        : "?artifactType=" + URLEncoder.encode(artifactType, StandardCharsets.UTF_8));
    String what = describe("GET", repository, path);
    return retrier.call(what, () -> {
      // Accept as for manifests: the answer is an image index.
      UpstreamHttp.Reply r = sendOnce(repository, "GET", path, true, 0);
      if (r == null) {
        return Optional.empty();
      }
      return Optional.of(new ReferrersPage(readBody(what, r, MAX_MANIFEST_BYTES),
          r.header("Link").orElse(null)));
    });
  }

  @Override
  public void close() throws IOException {
    blobHttp.close();
    http.close();
    auth.close();
  }

  private String describe(String method, String repository, String path) {
    return settings.name() + " " + method + " " + repository + path;
  }

  /** Reads a small body; a transfer that breaks off is an outage (status 0), so it is retried. */
  private byte[] readBody(String what, UpstreamHttp.Reply r, int max) throws IOException {
    try (InputStream body = r.body()) {
      return body.readNBytes(max);
    } catch (UpstreamException e) {
      throw e;
    } catch (IOException e) {
      throw new UpstreamException(0, what + ": the body broke off (" + e.getClass().getSimpleName()
          + (e.getMessage() == null ? "" : " " + e.getMessage()) + ")", null, e);
    }
  }

  /**
   * Sends one request for {@code /v2/<repository><path>}, authenticating as upstream demands and following
   * redirects (without our Authorization when they leave the registry's host). Returns null for 404.
   *
   * @param rangeFrom when positive, asks for the bytes from there on ({@code Range}); 206 is then success
   */
  private UpstreamHttp.Reply sendOnce(String repository, String method, String path, boolean manifest,
      long rangeFrom) throws IOException {
    URI uri = settings.url().resolve("/v2/" + repository + path);
    boolean retried = false;
    while (true) {
      Optional<String> authorization = auth.authorization(repository, retried);
      UpstreamHttp.Reply r = follow(method, uri, authorization, manifest, rangeFrom);
      int status = r.status();
      if (status == 401 && !retried) {
        r.body().close();
        auth.invalidate(repository);
        retried = true;
        continue;
      }
      if (status == 404) {
        r.body().close();
        return null;
      }
      if (status >= 200 && status < 300) {
        return r;
      }
      String detail;
      try (InputStream body = r.body()) {
        detail = new String(body.readNBytes(2048), StandardCharsets.UTF_8);
      } catch (IOException e) {
        detail = "";
      }
      throw new UpstreamException(status, settings.name() + " answered " + status + " for " + method + " "
          + repository + path + (detail.isBlank() ? "" : ": " + detail.strip()),
          r.header("Retry-After").orElse(null), null);
    }
  }

  private UpstreamHttp.Reply follow(String method, URI start, Optional<String> auth, boolean manifest,
      long rangeFrom) throws IOException {
    // Blob bodies are the bulk of what the proxy fetches: they go through Netty; the rest through the JDK client.
    UpstreamHttp via = "GET".equals(method) && start.getPath().contains("/blobs/") ? blobHttp : http;
    URI uri = start;
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
      java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
      headers.put("User-Agent", USER_AGENT);
      if (manifest) {
        headers.put("Accept", String.join(", ", MANIFEST_ACCEPT));
      }
      if (rangeFrom > 0) {
        headers.put("Range", "bytes=" + rangeFrom + "-");
      }
      if (auth.isPresent() && sameOrigin(start, uri)) {
        headers.put("Authorization", auth.get());
      }
      UpstreamHttp.Reply r;
      try {
        r = via.send(method, uri, headers);
      } catch (IOException e) {
        throw new UpstreamException(0, settings.name() + " unreachable (" + uri.getHost() + "): "
            + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()), null, e);
      }
      int status = r.status();
      if (status >= 300 && status < 400 && status != 304) {
        Optional<String> location = r.header("Location");
        r.body().close();
        if (location.isEmpty()) {
          throw new UpstreamException(502, "redirect without Location from " + uri, null, null);
        }
        uri = uri.resolve(location.get());
        continue;
      }
      return r;
    }
    throw new UpstreamException(502, "too many redirects from " + start, null, null);
  }

  private static boolean sameOrigin(URI a, URI b) {
    return a.getHost().equalsIgnoreCase(b.getHost()) && a.getPort() == b.getPort()
        && a.getScheme().equalsIgnoreCase(b.getScheme());
  }

}
