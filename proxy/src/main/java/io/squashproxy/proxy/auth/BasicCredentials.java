package io.squashproxy.proxy.auth;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * Checks {@code Authorization: Basic} values against the htpasswd file. A bcrypt check costs tens of
 * milliseconds and a docker pull sends dozens of requests with the same header, so results are cached,
 * keyed by the SHA-256 of the header (the password itself is never kept), and concurrent checks of one
 * header share one bcrypt (Caffeine's single flight). Successes are trusted for {@link #TRUSTED}, so a
 * changed or removed password stops working within that time; failures are remembered only briefly.
 */
public final class BasicCredentials {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(BasicCredentials.class);
  static final Duration TRUSTED = Duration.ofMinutes(1);
  static final Duration REFUSED = Duration.ofSeconds(5);

  private final Htpasswd htpasswd;
  private final Executor bcryptPool;
  private final AsyncCache<String, Optional<String>> checked;

  public BasicCredentials(Htpasswd htpasswd, Executor bcryptPool, Ticker ticker) {
    this.htpasswd = htpasswd;
    this.bcryptPool = bcryptPool;
    this.checked = Caffeine.newBuilder().maximumSize(10_000).ticker(ticker).executor(Runnable::run)
        .expireAfter(new Expiry<String, Optional<String>>() {
          @Override
          public long expireAfterCreate(String k, Optional<String> user, long now) {
            return (user.isPresent() ? TRUSTED : REFUSED).toNanos();
          }

          @Override
          public long expireAfterUpdate(String k, Optional<String> user, long now, long current) {
            return expireAfterCreate(k, user, now);
          }

          @Override
          public long expireAfterRead(String k, Optional<String> user, long now, long current) {
            return current;
          }
        })
        .buildAsync();
  }

  /**
   * The user the credentials of {@code authorization} (the whole header value, {@code Basic ...}) belong
   * to, or empty when they are wrong or malformed. Completes on the bcrypt pool, or at once when cached.
   */
  public CompletableFuture<Optional<String>> user(String authorization) {
    return checked.get(sha256(authorization), (k, e) -> CompletableFuture.supplyAsync(
        () -> verify(authorization), bcryptPool));
  }

  private Optional<String> verify(String authorization) {
    String[] userPassword = decode(authorization);
    if (userPassword == null) {
      return Optional.empty();
    }
    long started = System.nanoTime();
    Optional<String> user = htpasswd.verify(userPassword[0], userPassword[1]);
    long ms = (System.nanoTime() - started) / 1_000_000;
    if (user.isPresent()) {
      LOG.debug("verified the password of {} ({} ms)", user.get(), ms);
    } else {
      LOG.info("refused the password given for user {}", userPassword[0]);
    }
    return user;
  }

  /** {@code [user, password]} from a {@code Basic} header value, or null. */
  static String[] decode(String authorization) {
    if (authorization == null || authorization.length() < 6
        || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
      return null;
    }
    String text;
    try {
      text = new String(Base64.getDecoder().decode(authorization.substring(6).strip()), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return null;
    }
    int colon = text.indexOf(':');
    return colon <= 0 ? null : new String[] {text.substring(0, colon), text.substring(colon + 1)};
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
