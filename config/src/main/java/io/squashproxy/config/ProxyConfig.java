package io.squashproxy.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The whole configuration. Every field has a default (see {@link #defaults()}), so an empty file is a
 * Docker Hub mirror that squashes everything, caching under {@code ./data}.
 */
public record ProxyConfig(
    String listen,
    Tls tls,
    Admin admin,
    List<Upstream> upstreams,
    Cache cache,
    Squash squash,
    Limits limits,
    Logging logging,
    Auth auth,
    Storage storage) {

  public static final String DEFAULT_LISTEN = "0.0.0.0:5000";
  public static final String DEFAULT_ADMIN_LISTEN = "127.0.0.1:5001";
  public static final String DOCKER_HUB_URL = "https://registry-1.docker.io";
  /**
   * {@code squash.rules[].wait} when absent: no wait, so a cold pull is as fast as through a plain mirror
   * (see docs/benchmarks.md, "first pull"); the squashed image is served from the pull after its squash.
   */
  public static final Duration DEFAULT_SQUASH_WAIT = Duration.ZERO;

  /** TLS for the registry listener; both null means plain HTTP. */
  public record Tls(Path cert, Path key) {}

  /** @param notifications squash ahead of demand on a registry's push events; absent: off */
  public record Admin(String listen, Notifications notifications) {
    public Admin(String listen) {
      this(listen, null);
    }
  }

  /**
   * {@code POST /notifications} (a Distribution registry's {@code notifications.endpoints}) and
   * {@code POST /warm} on the admin listener.
   *
   * @param secret the endpoint's {@code Authorization: Bearer SECRET}, at least 16 characters
   * @param queue images waiting to be squashed ahead of demand at most; more are refused
   */
  public record Notifications(String secret, Integer queue) {}

  /**
   * @param prefix first name component routed here ({@code ghcr.io}); null for the default upstream
   * @param dockerHub add {@code library/} to one-component names; defaults to true for docker.io hosts
   */
  public record Upstream(String name, String url, String prefix, Boolean dockerHub, String username,
      String password, String credentialHelper) {}

  /**
   * @param memoryEntries how many manifests to keep in memory besides on disk
   * @param minFreeSpace free space to keep on the cache's file system: below it the least recently used blobs
   *     are evicted, whatever {@code maxSize} allows
   */
  public record Cache(Path directory, ByteSize maxSize, Duration tagTtl, Integer memoryEntries,
      FreeSpace minFreeSpace) {}

  public record Squash(List<Rule> rules) {}

  /**
   * @param match repository glob ({@code *} within a component, {@code **} across)
   * @param mode {@code auto} (the default), {@code off}, {@code all}, {@code keep} (with {@code keep}) or
   *     {@code base} (with {@code base})
   * @param compression {@code gzip}, {@code gzip:LEVEL}, {@code zstd}, {@code zstd:LEVEL}, {@code estargz},
   *     {@code estargz:LEVEL} (gzip that lazy-pulling snapshotters can read a file at a time)
   * @param wasteSlack with {@code auto}: wasted bytes a layer may carry and still be kept as it is
   * @param wasteSlackPercent with {@code auto}: the same as a percentage of the layer's uncompressed size
   *     (whichever of the two allows more)
   * @param squashWait the key {@code wait}: how long a pull of an image not squashed yet waits for its squash; past it the client gets
   *     the original image and the squash goes on in the background ({@link #DEFAULT_SQUASH_WAIT} if absent)
   * @param estargz with {@code compression: estargz}: its chunk size and the files to put first
   */
  public record Rule(String match, String mode, Integer keep, String base, String compression,
      List<String> platforms, ByteSize wasteSlack, Double wasteSlackPercent,
      @com.fasterxml.jackson.annotation.JsonProperty("wait") Duration squashWait, Estargz estargz) {

    public Rule(String match, String mode, Integer keep, String base, String compression, List<String> platforms) {
      this(match, mode, keep, base, compression, platforms, null, null, null, null);
    }

    /** This rule with another {@code wait}. */
    public Rule withWait(Duration wait) {
      return new Rule(match, mode, keep, base, compression, platforms, wasteSlack, wasteSlackPercent, wait,
          estargz);
    }
  }

  /**
   * {@code squash.rules[].estargz}.
   *
   * @param chunkSize files larger than this are split into chunks a lazy pull fetches one by one
   *     ({@link #DEFAULT_ESTARGZ_CHUNK} if absent)
   * @param prioritize paths in the image (the entrypoint, what it reads first) written first, before the
   *     prefetch landmark: the snapshotter fetches them in one request before the container starts
   */
  public record Estargz(ByteSize chunkSize, List<String> prioritize) {}

  /** Default of {@code squash.rules[].estargz.chunkSize}: stargz-snapshotter's own. */
  public static final ByteSize DEFAULT_ESTARGZ_CHUNK = new ByteSize(4L << 20);

  /** Default of {@code squash.rules[].mode}, and what a repository that matches no rule gets. */
  public static final String DEFAULT_MODE = "auto";
  /** Defaults of {@code squash.rules[].wasteSlack} and {@code wasteSlackPercent}. */
  public static final ByteSize DEFAULT_WASTE_SLACK = new ByteSize(1L << 20);
  public static final double DEFAULT_WASTE_SLACK_PERCENT = 1.0;

  /**
   * @param connectTimeout to open a connection to an upstream
   * @param requestTimeout from sending an upstream request to its response headers (the first byte)
   * @param idleTimeout a client connection with no traffic and no request in progress is closed
   * @param upstreamIdleTimeout longest pause between body bytes from an upstream before the transfer is
   *     abandoned (and retried)
   * @param retry how failed upstream requests are retried
   * @param maxPathsPerSquash the most paths (tar members over all layers) one squash may hold in memory; an
   *     image with more is passed through unsquashed. Default: {@link #defaultMaxPathsPerSquash}
   */
  public record Limits(Integer concurrentSquashes, ByteSize maxImageSize, Duration connectTimeout,
      Duration requestTimeout, Duration idleTimeout, Duration upstreamIdleTimeout, Retry retry,
      Long maxPathsPerSquash) {

    public Limits(Integer concurrentSquashes, ByteSize maxImageSize, Duration connectTimeout,
        Duration requestTimeout, Duration idleTimeout, Duration upstreamIdleTimeout, Retry retry) {
      this(concurrentSquashes, maxImageSize, connectTimeout, requestTimeout, idleTimeout, upstreamIdleTimeout, retry,
          null);
    }
  }

  /**
   * Heap a squash may count on per path, with room to spare: about twice what the squash holds (issue #14,
   * measured on node_modules-like trees with {@code bench/paths-memory}): the proxy squashes 300,000 paths in a
   * 56 MiB heap, itself included, in {@code mode: all} and with layers kept alike.
   */
  public static final long HEAP_BYTES_PER_PATH = 256;

  /**
   * Default of {@code limits.maxPathsPerSquash}: half the heap ({@code -Xmx}) shared by the squashes that may run
   * at once, at {@link #HEAP_BYTES_PER_PATH}; the other half is for everything else the proxy holds.
   */
  public static long defaultMaxPathsPerSquash(long maxHeapBytes, int concurrentSquashes) {
    return Math.max(1, maxHeapBytes / 2 / Math.max(1, concurrentSquashes) / HEAP_BYTES_PER_PATH);
  }

  /**
   * Retries of upstream reads (GET, HEAD) after 500, 502, 503, 504, 429, refused or reset connections and
   * timeouts: exponential backoff from {@code baseDelay} to {@code maxDelay}, less up to {@code jitter} of
   * each delay at random.
   *
   * @param attempts tries in all, the first included (1: no retries)
   * @param maxRetryAfter the longest 429 {@code Retry-After} waited for; longer ones go to the client
   */
  public record Retry(Integer attempts, Duration baseDelay, Duration maxDelay, Double jitter,
      Duration maxRetryAfter) {}

  /**
   * @param level of the root logger: trace, debug, info, warn or error
   * @param json one JSON object per log line (for log shippers)
   * @param accessLog one line per client request
   */
  public record Logging(String level, Boolean json, Boolean accessLog) {}

  /**
   * Client authentication and per-repository pull permissions; absent means an open proxy.
   *
   * @param htpasswd Apache htpasswd file with bcrypt entries ({@code htpasswd -B})
   * @param realm the realm of the Basic challenge, and the token service name
   * @param mode {@code basic} (docker sends the login with every request) or {@code token} (docker trades
   *     it for a short-lived bearer token at {@code /token}, as with Distribution's token auth)
   * @param access first rule whose glob matches the repository decides; no match: every user, no anonymous
   */
  public record Auth(Path htpasswd, String realm, String mode, AuthToken token, List<AccessRule> access) {}

  /**
   * @param realm the token endpoint URL sent in challenges; derived from the request's Host when absent
   * @param key HMAC-SHA256 signing key (at least 32 characters); random per start when absent
   * @param expiry how long an issued token is valid
   */
  public record AuthToken(String realm, String key, Duration expiry) {}

  /**
   * @param match repository glob as in squash rules, over the routed name ({@code library/nginx})
   * @param users who may pull; absent means every user in the htpasswd file, {@code []} none
   * @param anonymous whether clients without credentials may pull
   */
  public record AccessRule(String match, List<String> users, Boolean anonymous) {}
  /**
   * Where the cache lives besides {@code cache.directory}. Without {@code s3} the local directory is the
   * whole cache (one instance); with it, replicas share the bucket and the directory becomes a bounded
   * read-through tier in front of it.
   */
  public record Storage(S3 s3) {}

  /**
   * An S3-compatible bucket shared by every replica.
   *
   * @param endpoint {@code https://host[:port]} of a non-AWS store (MinIO, Ceph, R2...); null for AWS
   * @param pathStyle {@code http://endpoint/bucket/key} instead of {@code http://bucket.endpoint/key}
   * @param accessKeyId with {@code secretAccessKey}; both absent means the standard AWS chain (environment,
   *     profile, web identity, container and instance roles)
   * @param partSize uploads larger than this go in parts (at least 5MiB, S3's minimum)
   * @param lease how long a claim on a squash that its replica stopped renewing holds others back (0 turns
   *     claims off); the holder renews it every third of this while it squashes
   */
  public record S3(String bucket, String prefix, String endpoint, String region, Boolean pathStyle,
      String accessKeyId, String secretAccessKey, ByteSize partSize, Duration lease) {}

  public static ProxyConfig defaults() {
    return new ProxyConfig(null, null, null, null, null, null, null, null, null, null).withDefaults();
  }

  /** This config with every absent value filled with its default. */
  public ProxyConfig withDefaults() {
    List<Upstream> ups = upstreams == null || upstreams.isEmpty()
        ? List.of(new Upstream("docker.io", DOCKER_HUB_URL, null, true, null, null, null))
        : upstreams.stream().map(ProxyConfig::upstreamDefaults).toList();
    Cache c = cache == null ? new Cache(null, null, null, null, null) : cache;
    Squash s = squash == null || squash.rules() == null || squash.rules().isEmpty()
        ? new Squash(List.of(new Rule("**", DEFAULT_MODE, null, null, "gzip:6", List.of())))
        : squash;
    Limits l = limits == null ? new Limits(null, null, null, null, null, null, null, null) : limits;
    int squashes = l.concurrentSquashes() == null ? Math.max(1, Runtime.getRuntime().availableProcessors() / 2)
        : l.concurrentSquashes();
    Retry r = l.retry() == null ? new Retry(null, null, null, null, null) : l.retry();
    Logging g = logging == null ? new Logging(null, null, null) : logging;
    return new ProxyConfig(
        listen == null ? DEFAULT_LISTEN : listen,
        tls,
        new Admin(admin == null || admin.listen() == null ? DEFAULT_ADMIN_LISTEN : admin.listen(),
            admin == null || admin.notifications() == null ? null : new Notifications(
                admin.notifications().secret(),
                admin.notifications().queue() == null ? 1000 : admin.notifications().queue())),
        ups,
        new Cache(c.directory() == null ? Path.of("data") : c.directory(),
            c.maxSize() == null ? new ByteSize(20L << 30) : c.maxSize(),
            c.tagTtl() == null ? Duration.ofMinutes(5) : c.tagTtl(),
            c.memoryEntries() == null ? 10_000 : c.memoryEntries(),
            c.minFreeSpace() == null ? FreeSpace.parse("5%") : c.minFreeSpace()),
        s,
        new Limits(
            squashes,
            l.maxImageSize() == null ? new ByteSize(64L << 30) : l.maxImageSize(),
            l.connectTimeout() == null ? Duration.ofSeconds(10) : l.connectTimeout(),
            l.requestTimeout() == null ? Duration.ofMinutes(5) : l.requestTimeout(),
            l.idleTimeout() == null ? Duration.ofMinutes(2) : l.idleTimeout(),
            l.upstreamIdleTimeout() == null ? Duration.ofSeconds(60) : l.upstreamIdleTimeout(),
            new Retry(r.attempts() == null ? 4 : r.attempts(),
                r.baseDelay() == null ? Duration.ofMillis(250) : r.baseDelay(),
                r.maxDelay() == null ? Duration.ofSeconds(10) : r.maxDelay(),
                r.jitter() == null ? 0.5 : r.jitter(),
                r.maxRetryAfter() == null ? Duration.ofSeconds(30) : r.maxRetryAfter()),
            l.maxPathsPerSquash() == null
                ? defaultMaxPathsPerSquash(Runtime.getRuntime().maxMemory(), squashes) : l.maxPathsPerSquash()),
        new Logging(g.level() == null ? "info" : g.level(), Boolean.TRUE.equals(g.json()),
            Boolean.TRUE.equals(g.accessLog())),
        authDefaults(auth),
        storageDefaults(storage));
  }

  public static final String DEFAULT_REALM = "squash-proxy";

  private static Auth authDefaults(Auth a) {
    if (a == null) {
      return null;
    }
    AuthToken t = a.token() == null ? new AuthToken(null, null, null) : a.token();
    return new Auth(a.htpasswd(), a.realm() == null ? DEFAULT_REALM : a.realm(),
        a.mode() == null ? "basic" : a.mode(),
        new AuthToken(blankToNull(t.realm()), blankToNull(t.key()),
            t.expiry() == null ? Duration.ofMinutes(5) : t.expiry()),
        a.access() == null ? List.of() : a.access().stream()
            .map(r -> new AccessRule(r.match(), r.users() == null ? null : List.copyOf(r.users()),
                Boolean.TRUE.equals(r.anonymous())))
            .toList());
  }

  private static Storage storageDefaults(Storage st) {
    if (st == null || st.s3() == null) {
      return new Storage(null);
    }
    S3 s = st.s3();
    String prefix = s.prefix() == null ? "" : s.prefix();
    if (!prefix.isEmpty() && !prefix.endsWith("/")) {
      prefix = prefix + "/";
    }
    return new Storage(new S3(s.bucket(), prefix, blankToNull(s.endpoint()),
        s.region() == null || s.region().isBlank() ? "us-east-1" : s.region(),
        s.pathStyle() != null ? s.pathStyle() : s.endpoint() != null && !s.endpoint().isBlank(),
        blankToNull(s.accessKeyId()), blankToNull(s.secretAccessKey()),
        s.partSize() == null ? new ByteSize(64L << 20) : s.partSize(),
        s.lease() == null ? Duration.ofSeconds(30) : s.lease()));
  }

  private static Upstream upstreamDefaults(Upstream u) {
    boolean hub = u.dockerHub() != null ? u.dockerHub()
        : u.url() != null && u.url().contains("docker.io");
    return new Upstream(u.name() == null ? u.url() : u.name(), u.url(), u.prefix(), hub, blankToNull(u.username()),
        blankToNull(u.password()), blankToNull(u.credentialHelper()));
  }

  /** {@code ${VAR:-}} of an unset variable gives "": treat it as not configured. */
  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }

  /** Impossible values, each as "key: problem"; empty when the config is usable. */
  public List<String> problems() {
    List<String> out = new ArrayList<>();
    checkHostPort(out, "listen", listen);
    checkHostPort(out, "admin.listen", admin == null ? null : admin.listen());
    if (tls != null && (tls.cert() == null) != (tls.key() == null)) {
      out.add("tls: cert and key go together");
    }
    List<String> names = new ArrayList<>();
    int defaults = 0;
    for (int i = 0; i < upstreams.size(); i++) {
      Upstream u = upstreams.get(i);
      String k = "upstreams[" + i + "]";
      if (u.url() == null || !(u.url().startsWith("http://") || u.url().startsWith("https://"))) {
        out.add(k + ".url: must start with http:// or https://");
      } else if (hasUserInfo(u.url())) {
        // A URL is printed in logs, metrics and the status page: credentials go in their own keys.
        out.add(k + ".url: must not hold credentials (user:password@); use username and password");
      }
      if (names.contains(u.name())) {
        out.add(k + ".name: duplicate name " + u.name());
      }
      names.add(u.name());
      if (u.prefix() == null) {
        defaults++;
      }
      if (u.password() != null && u.username() == null) {
        out.add(k + ".password: set without username");
      }
    }
    if (defaults > 1) {
      out.add("upstreams: only one upstream may have no prefix (the default)");
    }
    if (admin != null && admin.notifications() != null) {
      Notifications n = admin.notifications();
      if (n.secret() == null || n.secret().length() < 16) {
        out.add("admin.notifications.secret: required, at least 16 characters");
      }
      if (n.queue() != null && (n.queue() < 1 || n.queue() > 1_000_000)) {
        out.add("admin.notifications.queue: must be 1..1000000");
      }
    }
    List<Rule> rules = squash.rules();
    for (int i = 0; i < rules.size(); i++) {
      Rule r = rules.get(i);
      String k = "squash.rules[" + i + "]";
      if (r.match() == null || r.match().isBlank()) {
        out.add(k + ".match: required");
      }
      String mode = r.mode() == null ? DEFAULT_MODE : r.mode();
      if (!mode.equals("auto") && (r.wasteSlack() != null || r.wasteSlackPercent() != null)) {
        out.add(k + (r.wasteSlack() != null ? ".wasteSlack" : ".wasteSlackPercent")
            + ": only mode auto tolerates waste (this rule is mode " + mode + ")");
      }
      if (r.wasteSlackPercent() != null && !(r.wasteSlackPercent() >= 0 && r.wasteSlackPercent() <= 100)) {
        out.add(k + ".wasteSlackPercent: must be between 0 and 100, not " + r.wasteSlackPercent());
      }
      switch (mode) {
        case "off", "all", "auto" -> { }
        case "keep" -> {
          if (r.keep() == null || r.keep() < 1) {
            out.add(k + ".keep: mode keep needs keep >= 1");
          }
        }
        case "base" -> {
          if (r.base() == null || r.base().isBlank()) {
            out.add(k + ".base: mode base needs a base image");
          }
        }
        default -> out.add(k + ".mode: must be auto, off, all, keep or base, not " + mode);
      }
      if (r.compression() != null && !r.compression().matches("(gzip|zstd|estargz)(:\\d+)?")) {
        out.add(k + ".compression: must be gzip, gzip:LEVEL, zstd, zstd:LEVEL, estargz or estargz:LEVEL, not "
            + r.compression());
      } else if (r.compression() != null && r.compression().contains(":")) {
        int level = Integer.parseInt(r.compression().substring(r.compression().indexOf(':') + 1));
        int max = r.compression().startsWith("zstd") ? 22 : 9;
        if (level < 1 || level > max) {
          out.add(k + ".compression: level must be 1.." + max);
        }
      }
      validateEstargz(k, r, out);
      if (r.squashWait() != null && r.squashWait().isNegative()) {
        out.add(k + ".wait: must not be negative, not " + r.squashWait());
      }
      if (r.platforms() != null) {
        for (String p : r.platforms()) {
          if (!p.matches("[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?")) {
            out.add(k + ".platforms: invalid platform " + p + " (expected os/arch[/variant])");
          }
        }
      }
    }
    if (cache.maxSize().bytes() < (1 << 20)) {
      out.add("cache.maxSize: must be at least 1MiB");
    }
    if (cache.minFreeSpace() != null && (cache.minFreeSpace().percent() < 0 || cache.minFreeSpace().percent() > 90)) {
      out.add("cache.minFreeSpace: a share must be between 0% and 90%");
    }
    if (storage != null && storage.s3() != null) {
      S3 s3 = storage.s3();
      if (s3.bucket() == null || s3.bucket().isBlank()) {
        out.add("storage.s3.bucket: required");
      }
      if (s3.endpoint() != null && !(s3.endpoint().startsWith("http://") || s3.endpoint().startsWith("https://"))) {
        out.add("storage.s3.endpoint: must start with http:// or https://");
      }
      if ((s3.accessKeyId() == null) != (s3.secretAccessKey() == null)) {
        out.add("storage.s3.accessKeyId: accessKeyId and secretAccessKey go together");
      }
      if (s3.partSize() != null && s3.partSize().bytes() < (5L << 20)) {
        out.add("storage.s3.partSize: must be at least 5MiB");
      }
      if (s3.prefix() != null && s3.prefix().startsWith("/")) {
        out.add("storage.s3.prefix: must not start with /");
      }
    }
    if (limits.concurrentSquashes() < 1) {
      out.add("limits.concurrentSquashes: must be at least 1");
    }
    if (limits.maxPathsPerSquash() < 1) {
      out.add("limits.maxPathsPerSquash: must be at least 1");
    }
    checkUpstreamTimeouts(out, limits);
    if (!List.of("trace", "debug", "info", "warn", "error").contains(logging.level())) {
      out.add("logging.level: must be trace, debug, info, warn or error");
    }
    authProblems(out);
    return out;
  }

  private static boolean hasUserInfo(String url) {
    int start = url.indexOf("://") + 3;
    int end = url.indexOf('/', start);
    return url.substring(start, end < 0 ? url.length() : end).contains("@");
  }

  private void authProblems(List<String> out) {
    if (auth == null) {
      return;
    }
    if (auth.htpasswd() == null) {
      out.add("auth.htpasswd: required (an htpasswd file with bcrypt entries, htpasswd -B)");
    }
    if (auth.realm().isBlank() || auth.realm().contains("\"")) {
      out.add("auth.realm: must be non-empty and without quotes");
    }
    if (!List.of("basic", "token").contains(auth.mode())) {
      out.add("auth.mode: must be basic or token, not " + auth.mode());
    }
    AuthToken t = auth.token();
    if (t.realm() != null && !(t.realm().startsWith("http://") || t.realm().startsWith("https://"))) {
      out.add("auth.token.realm: must be an http:// or https:// URL");
    }
    if (t.key() != null && t.key().length() < 32) {
      out.add("auth.token.key: must be at least 32 characters");
    }
    if (t.expiry().compareTo(Duration.ofSeconds(10)) < 0 || t.expiry().compareTo(Duration.ofHours(24)) > 0) {
      out.add("auth.token.expiry: must be between 10s and 24h");
    }
    for (int i = 0; i < auth.access().size(); i++) {
      AccessRule r = auth.access().get(i);
      String k = "auth.access[" + i + "]";
      if (r.match() == null || r.match().isBlank()) {
        out.add(k + ".match: required");
      }
      if (r.users() != null && r.users().stream().anyMatch(u -> u == null || u.isBlank() || u.contains(":"))) {
        out.add(k + ".users: names must be non-empty and without ':'");
      }
    }
  }

  private static void checkUpstreamTimeouts(List<String> out, Limits l) {
    positive(out, "limits.connectTimeout", l.connectTimeout());
    positive(out, "limits.requestTimeout", l.requestTimeout());
    positive(out, "limits.upstreamIdleTimeout", l.upstreamIdleTimeout());
    Retry r = l.retry();
    if (r.attempts() < 1 || r.attempts() > 20) {
      out.add("limits.retry.attempts: must be 1..20 (tries in all, the first included)");
    }
    if (r.baseDelay().isNegative() || r.maxDelay().compareTo(r.baseDelay()) < 0) {
      out.add("limits.retry.maxDelay: must be at least baseDelay");
    }
    if (r.jitter() < 0 || r.jitter() > 1) {
      out.add("limits.retry.jitter: must be between 0 and 1");
    }
    if (r.maxRetryAfter().isNegative()) {
      out.add("limits.retry.maxRetryAfter: must not be negative");
    }
  }

  private static void positive(List<String> out, String key, Duration d) {
    if (d.isZero() || d.isNegative()) {
      out.add(key + ": must be positive");
    }
  }

  private static void checkHostPort(List<String> out, String key, String value) {
    if (value == null) {
      return;
    }
    int colon = value.lastIndexOf(':');
    if (colon < 0) {
      out.add(key + ": expected HOST:PORT, got " + value);
      return;
    }
    try {
      int port = Integer.parseInt(value.substring(colon + 1));
      if (port < 0 || port > 65535) {
        out.add(key + ": port out of range in " + value);
      }
    } catch (NumberFormatException e) {
      out.add(key + ": expected HOST:PORT, got " + value);
    }
  }

  /** {@code estargz} only with {@code compression: estargz}; chunks of 4 KiB to 64 MiB; paths inside the image. */
  private static void validateEstargz(String k, Rule r, List<String> out) {
    if (r.estargz() == null) {
      return;
    }
    if (r.compression() == null || !r.compression().startsWith("estargz")) {
      out.add(k + ".estargz: only with compression: estargz");
      return;
    }
    ByteSize chunk = r.estargz().chunkSize();
    if (chunk != null && (chunk.bytes() < 4096 || chunk.bytes() > (64L << 20))) {
      out.add(k + ".estargz.chunkSize: must be between 4KiB and 64MiB, not " + chunk);
    }
    if (r.estargz().prioritize() != null) {
      for (String p : r.estargz().prioritize()) {
        String rel = p == null ? "" : p.replaceFirst("^/+", "");
        if (rel.isEmpty() || java.util.Arrays.asList(rel.split("/")).contains("..")) {
          out.add(k + ".estargz.prioritize: '" + p + "' is not a path in the image");
        }
      }
    }
  }
}
