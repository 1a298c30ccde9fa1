package io.squashproxy.proxy.upstream;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.cloud.tools.jib.api.Credential;
import com.google.cloud.tools.jib.api.ImageReference;
import com.google.cloud.tools.jib.api.RegistryException;
import com.google.cloud.tools.jib.event.EventHandlers;
import com.google.cloud.tools.jib.frontend.CredentialRetrieverFactory;
import com.google.cloud.tools.jib.http.Authorization;
import com.google.cloud.tools.jib.http.FailoverHttpClient;
import com.google.cloud.tools.jib.http.ResponseException;
import com.google.cloud.tools.jib.registry.RegistryClient;
import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one class that talks to Jib. Jib performs authentication (the registry's {@code WWW-Authenticate}
 * challenge, Docker Hub's bearer-token flow, basic auth, credentials from the docker config and credential
 * helpers); the requests themselves go through the JDK HTTP client, because Jib re-parses manifests (we must
 * pass them on byte-exact), has no manifest HEAD, and follows blob redirects on its own terms.
 *
 * <p>Jib keeps the {@link Authorization} it negotiated in a private field of {@link RegistryClient}; we read
 * it there. That couples us to Jib's internals (pinned in the parent pom) and is covered by tests against a
 * WireMock token server.
 */
public final class JibUpstream implements Upstream {
  private static final Logger LOG = LoggerFactory.getLogger(JibUpstream.class);
  private static final String USER_AGENT = "squash-proxy/0.1";
  private static final int MAX_REDIRECTS = 5;
  /** Docker Hub's tokens live 300 s; refresh before that, and on any 401. */
  private static final Duration TOKEN_REUSE = Duration.ofSeconds(240);
  private static final Field AUTHORIZATION = authorizationField();

  private final UpstreamSettings settings;
  private final UpstreamHttp http;
  /** Blob GETs: the cold pull streams at this download's speed (see {@link NettyHttp}). */
  private final UpstreamHttp blobHttp;
  private final FailoverHttpClient jibHttp;
  private final Cache<String, Optional<String>> authByRepository;
  private final Retrier retrier;
  private volatile Optional<Credential> credential;
  /** Whether {@code GET /v2/} lets us in without credentials: null until asked, FALSE once it challenged. */
  private volatile Boolean openRegistry;

  public JibUpstream(UpstreamSettings settings) {
    this(settings, Retrier.of(settings.retry(), null));
  }

  /** @param retrier runs every request under the settings' retry policy (tests inject its sleeper) */
  public JibUpstream(UpstreamSettings settings, Retrier retrier) {
    this.settings = settings;
    this.retrier = retrier;
    this.http = new JdkHttp(settings);
    this.blobHttp = new NettyHttp(settings);
    // Plain-http upstreams need Jib's http failover and must let it send credentials over http.
    this.jibHttp = jibHttpClient(settings.plainHttp());
    this.authByRepository = Caffeine.newBuilder().expireAfterWrite(TOKEN_REUSE).maximumSize(10_000).build();
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
    jibHttp.shutDown();
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
      Optional<String> auth = authorization(repository, retried);
      UpstreamHttp.Reply r = follow(method, uri, auth, manifest, rangeFrom);
      int status = r.status();
      if (status == 401 && !retried) {
        r.body().close();
        authByRepository.invalidate(repository);
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

  private Optional<String> authorization(String repository, boolean refresh) throws IOException {
    if (refresh) {
      authByRepository.invalidate(repository);
    }
    Optional<String> cached = authByRepository.getIfPresent(repository);
    if (cached != null) {
      return cached;
    }
    Optional<String> fresh = authenticate(repository);
    authByRepository.put(repository, fresh);
    return fresh;
  }

  /** Lets Jib run the registry's challenge for pull access to {@code repository}. */
  private Optional<String> authenticate(String repository) throws IOException {
    Optional<Credential> cred = credential();
    if (cred.isEmpty() && openRegistry != Boolean.FALSE && anonymousPing()) {
      return Optional.empty();
    }
    RegistryClient.Factory factory = RegistryClient.factory(EventHandlers.NONE, settings.registryHost(),
        repository, jibHttp).setUserAgent(USER_AGENT);
    cred.ifPresent(factory::setCredential);
    RegistryClient client = factory.newRegistryClient();
    try {
      boolean bearer = client.doPullBearerAuth();
      if (!bearer && cred.isPresent()) {
        client.configureBasicAuth();
      }
    } catch (RegistryException | IOException e) {
      throw authenticationFailure(repository, e);
    }
    Authorization a = readAuthorization(client);
    return a == null ? Optional.empty() : Optional.of(a.getScheme() + " " + a.getToken());
  }

  /**
   * {@code GET /v2/} on our own pooled client: true when it answers 200, so pulls need no credentials (a private
   * Distribution registry without auth). Jib's challenge costs about 15 ms per repository here (its own client,
   * a new connection each time), on the first pull's critical path; this, a couple. A registry that challenges is
   * remembered and sent to Jib directly from then on. Outages fail as Jib's would: status 0 when nothing
   * answered, upstream's status (and Retry-After) for a 5xx or 429, so the retry policy applies.
   */
  private boolean anonymousPing() throws IOException {
    UpstreamHttp.Reply r;
    try {
      r = http.send("GET", settings.url().resolve("/v2/"), java.util.Map.of("User-Agent", USER_AGENT));
    } catch (IOException e) {
      throw new UpstreamException(0, settings.name() + " unreachable during authentication: "
          + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()), null, e);
    }
    r.body().close();
    int status = r.status();
    if (status == 200) {
      openRegistry = true;
      return true;
    }
    if (status >= 500 || status == 429) {
      throw new UpstreamException(status, settings.name() + " answered " + status + " for GET /v2/ while "
          + "authenticating", r.header("Retry-After").orElse(null), null);
    }
    openRegistry = false;
    return false;
  }

  /**
   * Jib reports a token endpoint that answered 503 or 429, and a registry that dropped the connection, as a
   * failed authentication ({@link RegistryException}); a {@code /v2/} that answered 5xx or 429 comes out as
   * its {@link ResponseException}. Only a refusal (401, 403, or a challenge Jib cannot follow) is a denial;
   * an outage keeps upstream's status (or 0 when nothing answered), so callers can tell it from a denial
   * ({@link UpstreamException#unreachable()}: serve what is cached) and pass a rate limit's Retry-After on.
   */
  private UpstreamException authenticationFailure(String repository, Exception e) {
    ResponseException response = null;
    boolean io = false;
    for (Throwable t = e; t != null && response == null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof ResponseException r) {
        response = r;
      } else if (t instanceof IOException) {
        io = true;
      }
    }
    if (response != null && response.getStatusCode() != 401 && response.getStatusCode() != 403) {
      int status = response.getStatusCode();
      return new UpstreamException(status, settings.name() + " answered " + status + " while authenticating for "
          + repository + ": " + e.getMessage(), retryAfter(response), e);
    }
    if (response == null && io) {
      return new UpstreamException(0, settings.name() + " unreachable during authentication: " + e.getMessage(),
          null, e);
    }
    return new UpstreamException(response == null ? 401 : response.getStatusCode(), settings.name()
        + " refused authentication for " + repository + ": " + e.getMessage(), null, e);
  }

  /**
   * The Retry-After header of a response Jib failed on. Its headers are google-http-client's, which Jib keeps
   * off our compile classpath (runtime scope), hence reflection; null when absent or unreadable.
   */
  private static String retryAfter(ResponseException e) {
    try {
      Object headers = ResponseException.class.getMethod("getHeaders").invoke(e);
      Object value = headers == null ? null : headers.getClass().getMethod("getRetryAfter").invoke(headers);
      return value == null ? null : value.toString();
    } catch (ReflectiveOperationException | RuntimeException | LinkageError x) {
      return null;
    }
  }

  private Optional<Credential> credential() {
    Optional<Credential> c = credential;
    if (c != null) {
      return c;
    }
    if (settings.username() != null) {
      c = Optional.of(Credential.from(settings.username(), settings.password() == null ? ""
          : settings.password()));
    } else {
      try {
        CredentialRetrieverFactory f = CredentialRetrieverFactory.forImage(
            ImageReference.of(settings.registryHost(), "library/busybox", null), e -> { });
        c = settings.credentialHelper() != null
            ? f.dockerCredentialHelper(settings.credentialHelper()).retrieve()
            : f.dockerConfig().retrieve();
      } catch (Exception e) {
        LOG.warn("{}: no credentials from the docker config or helper ({}); pulling anonymously", settings,
            e.getMessage());
        c = Optional.empty();
      }
    }
    credential = c;
    return c;
  }

  /**
   * Jib's HTTP client without Jib's own retries. Those back off exponentially on any I/O error for up to a
   * minute per request, so a dead registry (connection refused) held each authentication that long; the
   * {@link Retrier} retries authentication like any other request instead, bounded by the configured policy.
   * The switch is a package-private constructor (reflection, like {@link #AUTHORIZATION}; the Jib version is
   * pinned and this is covered by a test against a refused port); without it we keep Jib's behaviour.
   */
  static FailoverHttpClient jibHttpClient(boolean plainHttp) {
    try {
      java.lang.reflect.Constructor<FailoverHttpClient> c = FailoverHttpClient.class.getDeclaredConstructor(
          boolean.class, boolean.class, java.util.function.Consumer.class, boolean.class);
      c.setAccessible(true);
      java.util.function.Consumer<com.google.cloud.tools.jib.api.LogEvent> quiet = e -> { };
      return c.newInstance(plainHttp, plainHttp, quiet, false);
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warn("cannot turn off Jib's own retries ({}); an unreachable registry may take a minute to report", e
          .toString());
      return new FailoverHttpClient(plainHttp, plainHttp, e2 -> { });
    }
  }

  @SuppressWarnings("unchecked")
  private static Authorization readAuthorization(RegistryClient client) {
    try {
      return ((AtomicReference<Authorization>) AUTHORIZATION.get(client)).get();
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot read Jib's negotiated authorization", e);
    }
  }

  private static Field authorizationField() {
    try {
      Field f = RegistryClient.class.getDeclaredField("authorization");
      f.setAccessible(true);
      return f;
    } catch (NoSuchFieldException e) {
      throw new IllegalStateException("this Jib version keeps no authorization field; check the pinned version",
          e);
    }
  }
}
