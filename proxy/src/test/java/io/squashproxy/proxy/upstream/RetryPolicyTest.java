package io.squashproxy.proxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The policy's arithmetic and the retrier's decisions, with a recording sleeper and a fixed clock. */
class RetryPolicyTest {
  static final Instant NOW = Instant.parse("2026-10-21T07:28:00Z");
  static final RetryPolicy POLICY = new RetryPolicy(5, Duration.ofMillis(100), Duration.ofMillis(350), 0.5,
      Duration.ofSeconds(30));

  final List<Duration> slept = new ArrayList<>();
  final List<String> reasons = new ArrayList<>();

  Retrier retrier(RetryPolicy policy, double random) {
    return new Retrier(policy, slept::add, Clock.fixed(NOW, ZoneOffset.UTC), () -> random, reasons::add);
  }

  @Test
  void backoffDoublesUpToTheCap() {
    assertEquals(Duration.ofMillis(100), POLICY.backoff(1, 0));
    assertEquals(Duration.ofMillis(200), POLICY.backoff(2, 0));
    assertEquals(Duration.ofMillis(350), POLICY.backoff(3, 0));
    assertEquals(Duration.ofMillis(350), POLICY.backoff(60, 0));
    assertEquals(Duration.ofMillis(350), POLICY.backoff(Integer.MAX_VALUE, 0));
  }

  @Test
  void jitterTakesOffAtMostItsShare() {
    assertEquals(Duration.ofMillis(50), POLICY.backoff(1, 1.0));
    assertEquals(Duration.ofMillis(75), POLICY.backoff(1, 0.5));
    RetryPolicy full = new RetryPolicy(3, Duration.ofMillis(100), Duration.ofSeconds(1), 1.0, Duration.ZERO);
    assertEquals(Duration.ZERO, full.backoff(1, 1.0));
  }

  @Test
  void retryAfterIsSecondsOrAnHttpDate() {
    assertEquals(Optional.of(Duration.ofSeconds(7)), RetryPolicy.parseRetryAfter("7", NOW));
    assertEquals(Optional.of(Duration.ofSeconds(12)),
        RetryPolicy.parseRetryAfter("Wed, 21 Oct 2026 07:28:12 GMT", NOW));
    assertEquals(Optional.of(Duration.ZERO), RetryPolicy.parseRetryAfter("Wed, 21 Oct 2026 07:27:00 GMT", NOW));
    assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter("soon", NOW));
    assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter(null, NOW));
    assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter("99999999999999999999999", NOW));
  }

  @Test
  void impossiblePoliciesAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(0, Duration.ZERO, Duration.ZERO, 0,
        Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(2, Duration.ofSeconds(2),
        Duration.ofSeconds(1), 0, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(2, Duration.ZERO, Duration.ZERO, 1.5,
        Duration.ZERO));
  }

  @Test
  void outagesAreRetriedUntilTheAttemptsAreSpent() {
    int[] calls = {0};
    UpstreamException e = assertThrows(UpstreamException.class, () -> retrier(POLICY, 0).call("x", () -> {
      calls[0]++;
      throw new UpstreamException(503, "down", null, null);
    }));
    assertEquals(503, e.status());
    assertEquals(5, calls[0]);
    assertEquals(List.of(Duration.ofMillis(100), Duration.ofMillis(200), Duration.ofMillis(350),
        Duration.ofMillis(350)), slept);
    assertEquals(List.of("http_503", "http_503", "http_503", "http_503"), reasons);
  }

  @Test
  void aRecoveredUpstreamAnswersOnTheNextAttempt() throws IOException {
    int[] calls = {0};
    String result = retrier(POLICY, 0).call("x", () -> {
      if (calls[0]++ < 2) {
        throw new UpstreamException(0, "refused", null, new ConnectException("Connection refused"));
      }
      return "ok";
    });
    assertEquals("ok", result);
    assertEquals(List.of("connection", "connection"), reasons);
  }

  @Test
  void finalAnswersAreNotRetried() {
    for (UpstreamException e : List.of(new UpstreamException(400, "bad", null, null),
        new UpstreamException(401, "who", null, null), new UpstreamException(403, "no", null, null),
        new UpstreamException(404, "none", null, null), new UpstreamException(501, "never", null, null),
        new UpstreamContentException("digest mismatch"))) {
      int[] calls = {0};
      UpstreamException thrown = assertThrows(UpstreamException.class, () -> retrier(POLICY, 0).call("x", () -> {
        calls[0]++;
        throw e;
      }));
      assertEquals(e, thrown);
      assertEquals(1, calls[0], e.getMessage());
    }
    assertTrue(slept.isEmpty());
  }

  @Test
  void aRateLimitWaitsAsLongAsUpstreamAsks() throws IOException {
    int[] calls = {0};
    retrier(POLICY, 0).call("x", () -> {
      if (calls[0]++ == 0) {
        throw new UpstreamException(429, "slow down", "Wed, 21 Oct 2026 07:28:09 GMT", null);
      }
      return null;
    });
    assertEquals(List.of(Duration.ofSeconds(9)), slept);
    assertEquals(List.of("http_429"), reasons);
  }

  @Test
  void aRateLimitLongerThanTheCapGoesToTheClient() {
    UpstreamException e = assertThrows(UpstreamException.class, () -> retrier(POLICY, 0).call("x", () -> {
      throw new UpstreamException(429, "slow down", "31", null);
    }));
    assertEquals("31", e.retryAfter());
    assertTrue(slept.isEmpty());
  }

  @Test
  void aRateLimitWithoutRetryAfterBacksOff() {
    assertThrows(UpstreamException.class, () -> retrier(POLICY, 0).call("x", () -> {
      throw new UpstreamException(429, "slow down", null, null);
    }));
    assertEquals(Duration.ofMillis(100), slept.get(0));
  }

  @Test
  void timeoutsAreTheirOwnReason() {
    assertEquals("timeout", Retrier.reason(new UpstreamException(0, "t", null,
        new HttpTimeoutException("request timed out"))));
    assertEquals("timeout", Retrier.reason(new HttpTimeoutException("no body bytes")));
    assertEquals("body", Retrier.reason(new IOException("fixed content-length: 10, bytes received: 5")));
  }

  @Test
  void noRetriesMeansOneAttempt() {
    int[] calls = {0};
    assertThrows(UpstreamException.class, () -> retrier(RetryPolicy.none(), 0).call("x", () -> {
      calls[0]++;
      throw new UpstreamException(503, "down", null, null);
    }));
    assertEquals(1, calls[0]);
  }
}
