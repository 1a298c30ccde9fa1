package io.squashproxy.proxy.upstream;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;

/**
 * How failed upstream requests are retried: exponential backoff from {@code baseDelay}, capped at
 * {@code maxDelay}, with up to {@code jitter} of each delay taken off at random (so a fleet of proxies that
 * failed together does not retry together). A 429's {@code Retry-After} is honoured when it is at most
 * {@code maxRetryAfter}; a longer one is passed on to the client instead of holding its request.
 *
 * @param maxAttempts tries in all, the first included; 1 means no retries
 * @param jitter 0 (none) to 1 (a delay may shrink to nothing)
 */
public record RetryPolicy(int maxAttempts, Duration baseDelay, Duration maxDelay, double jitter,
    Duration maxRetryAfter) {

  public RetryPolicy {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be at least 1");
    }
    if (jitter < 0 || jitter > 1) {
      throw new IllegalArgumentException("jitter must be between 0 and 1");
    }
    if (baseDelay.isNegative() || maxDelay.compareTo(baseDelay) < 0 || maxRetryAfter.isNegative()) {
      throw new IllegalArgumentException("delays must satisfy 0 <= baseDelay <= maxDelay, maxRetryAfter >= 0");
    }
  }

  /** Four tries over about two seconds, a Retry-After of up to 30 s honoured. */
  public static RetryPolicy defaults() {
    return new RetryPolicy(4, Duration.ofMillis(250), Duration.ofSeconds(10), 0.5, Duration.ofSeconds(30));
  }

  public static RetryPolicy none() {
    return new RetryPolicy(1, Duration.ZERO, Duration.ZERO, 0, Duration.ZERO);
  }

  /**
   * The pause before retry number {@code retry} (1 for the first retry).
   *
   * @param random a value in [0, 1)
   */
  public Duration backoff(int retry, double random) {
    long base = baseDelay.toNanos();
    long max = maxDelay.toNanos();
    int shift = Math.min(Math.max(0, retry - 1), 62);
    long full = base == 0 ? 0 : (base > (max >> shift) ? max : Math.min(max, base << shift));
    return Duration.ofNanos(full - (long) (full * jitter * random));
  }

  /**
   * A {@code Retry-After} value (delay seconds or an HTTP-date) as a wait from {@code now}; empty when
   * absent or unreadable. A date in the past is a wait of zero.
   */
  public static Optional<Duration> parseRetryAfter(String value, Instant now) {
    if (value == null || value.isBlank()) {
      return Optional.empty();
    }
    String v = value.strip();
    if (v.chars().allMatch(Character::isDigit)) {
      try {
        return Optional.of(Duration.ofSeconds(Long.parseLong(v)));
      } catch (NumberFormatException e) {
        return Optional.empty(); // more seconds than a long holds
      }
    }
    try {
      Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
      Duration d = Duration.between(now, at);
      return Optional.of(d.isNegative() ? Duration.ZERO : d);
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }
}
