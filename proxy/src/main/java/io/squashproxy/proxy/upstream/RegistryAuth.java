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
import java.io.IOException;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code Authorization} a repository's pulls carry, negotiated once per repository and reused for
 * {@link #TOKEN_REUSE}: none for a registry whose {@code /v2/} lets anyone in, else what Jib negotiates (the
 * registry's {@code WWW-Authenticate} challenge, Docker Hub's bearer-token flow, basic auth, credentials from the
 * docker config and credential helpers). Failures keep upstream's status so the retry policy can tell an outage
 * from a refusal.
 *
 * <p>Jib keeps the {@link Authorization} it negotiated in a private field of {@link RegistryClient}; we read it
 * there. That couples us to Jib's internals (pinned in the parent pom) and is covered by tests against a WireMock
 * token server.
 */
final class RegistryAuth {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryAuth.class);
  /** Docker Hub's tokens live 300 s; refresh before that, and on any 401. */
  private static final Duration TOKEN_REUSE = Duration.ofSeconds(240);
  private static final Field AUTHORIZATION = authorizationField();

  private final UpstreamSettings settings;
  private final UpstreamHttp http;
  private final String userAgent;
  private final FailoverHttpClient jibHttp;
  private final Cache<String, Optional<String>> authByRepository;
  private volatile Optional<Credential> credential;
  /** Whether {@code GET /v2/} lets us in without credentials: null until asked, FALSE once it challenged. */
  private volatile Boolean openRegistry;

  /** @param http the client {@code /v2/} is asked on (pooled: a new repository costs no new connection) */
  RegistryAuth(UpstreamSettings settings, UpstreamHttp http, String userAgent) {
    this.settings = settings;
    this.http = http;
    this.userAgent = userAgent;
    // Plain-http upstreams need Jib's http failover and must let it send credentials over http.
    this.jibHttp = jibHttpClient(settings.plainHttp());
    this.authByRepository = Caffeine.newBuilder().expireAfterWrite(TOKEN_REUSE).maximumSize(10_000).build();
  }

  /** Forgets the repository's authorization (upstream answered 401 with it). */
  void invalidate(String repository) {
    authByRepository.invalidate(repository);
  }

  void close() throws IOException {
    jibHttp.shutDown();
  }

  Optional<String> authorization(String repository, boolean refresh) throws IOException {
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
        repository, jibHttp).setUserAgent(userAgent);
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
      r = http.send("GET", settings.url().resolve("/v2/"), java.util.Map.of("User-Agent", userAgent));
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
