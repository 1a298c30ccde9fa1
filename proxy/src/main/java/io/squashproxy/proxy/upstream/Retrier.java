package io.squashproxy.proxy.upstream;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.http.HttpTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs upstream requests under a {@link RetryPolicy}. Only reads are sent here (GET and HEAD are
 * idempotent), and their bodies go to the cache, never straight to a client, so a failed attempt can always
 * start again. Retried: 500, 502, 503, 504, 429 (after its {@code Retry-After}), refused and reset
 * connections, timeouts. Never retried: other statuses (a 404 is an answer, a 401/403 a refusal) and content
 * that does not match its digest ({@link UpstreamContentException}: the next client request tries again).
 *
 * <p>Inside a task of {@link ScheduledRetries} (the io pool's upstream lookups) the pause between attempts
 * holds no thread: the task is unwound and run again by the {@link Scheduler} when the pause is over.
 * Elsewhere, and for a blob body that broke off mid-transfer ({@link #pause}), the calling thread sleeps.
 *
 * <p>The sleeper, scheduler, clock and random source are injected so tests never wait.
 */
public final class Retrier {
  private static final Logger LOG = LoggerFactory.getLogger(Retrier.class);

  /** Pauses the calling thread (an io worker, never an event loop). */
  public interface Sleeper {
    void sleep(Duration d) throws InterruptedException;
  }

  /** Runs a task after a pause, holding no thread meanwhile (a timer). */
  public interface Scheduler {
    void schedule(Duration d, Runnable task);

    /** The JDK's shared timer thread; the task itself runs on the executor it resubmits to. */
    static Scheduler timer() {
      return (d, task) -> CompletableFuture.delayedExecutor(d.toNanos(), TimeUnit.NANOSECONDS).execute(task);
    }
  }

  /** Told about each retry, with why: {@code http_503}, {@code connection}, {@code timeout}, {@code body}. */
  public interface Listener {
    void retrying(String reason);
  }

  /** One attempt. */
  public interface Call<T> {
    T call() throws IOException;
  }

  private final RetryPolicy policy;
  private final Sleeper sleeper;
  private final Scheduler scheduler;
  private final Clock clock;
  private final DoubleSupplier random;
  private final Listener listener;

  public Retrier(RetryPolicy policy, Sleeper sleeper, Clock clock, DoubleSupplier random, Listener listener) {
    this(policy, sleeper, Scheduler.timer(), clock, random, listener);
  }

  public Retrier(RetryPolicy policy, Sleeper sleeper, Scheduler scheduler, Clock clock, DoubleSupplier random,
      Listener listener) {
    this.policy = policy;
    this.sleeper = sleeper;
    this.scheduler = scheduler;
    this.clock = clock;
    this.random = random;
    this.listener = listener;
  }

  /** Real sleeps and clock; {@code listener} may be null. */
  public static Retrier of(RetryPolicy policy, Listener listener) {
    return new Retrier(policy, d -> Thread.sleep(d.toMillis(), (int) (d.toNanos() % 1_000_000)),
        Clock.systemUTC(), () -> ThreadLocalRandom.current().nextDouble(), listener);
  }

  public RetryPolicy policy() {
    return policy;
  }

  /**
   * Runs {@code call} until it succeeds, fails for good, or the attempts are spent. Inside a task of
   * {@link ScheduledRetries} a pause unwinds the task instead of sleeping, and the task's next run continues
   * with the next attempt.
   */
  public <T> T call(String what, Call<T> call) throws IOException {
    for (int attempt = ScheduledRetries.attemptsMade(what) + 1; ; attempt++) {
      try {
        return call.call();
      } catch (UpstreamException e) {
        Optional<Duration> wait = delayAfter(e, attempt);
        if (wait.isEmpty()) {
          throw e;
        }
        if (ScheduledRetries.active()) {
          announce(what, reason(e), attempt, wait.get(), e);
          throw ScheduledRetries.later(what, attempt, wait.get(), scheduler, e);
        }
        pause(what, reason(e), attempt, wait.get(), e);
      }
    }
  }

  /**
   * The pause before the next attempt after {@code attempt} (1-based) failed with {@code e}; empty when
   * {@code e} is final or no attempt is left.
   */
  public Optional<Duration> delayAfter(IOException e, int attempt) {
    if (attempt >= policy.maxAttempts()) {
      return Optional.empty();
    }
    String reason = reason(e);
    if (reason == null) {
      return Optional.empty();
    }
    Duration backoff = policy.backoff(attempt, random.getAsDouble());
    if (e instanceof UpstreamException u && u.status() == 429) {
      Optional<Duration> asked = RetryPolicy.parseRetryAfter(u.retryAfter(), clock.instant());
      if (asked.isPresent()) {
        // Longer than we may hold a client's request: pass the 429 (and its Retry-After) on instead.
        return asked.get().compareTo(policy.maxRetryAfter()) > 0 ? Optional.empty()
            : Optional.of(asked.get().isZero() ? backoff : asked.get());
      }
    }
    return Optional.of(backoff);
  }

  /** Logs, counts and waits (on this thread) before another attempt. */
  void pause(String what, String reason, int attempt, Duration wait, IOException cause) throws IOException {
    announce(what, reason, attempt, wait, cause);
    try {
      sleeper.sleep(wait);
    } catch (InterruptedException x) {
      Thread.currentThread().interrupt();
      InterruptedIOException io = new InterruptedIOException("interrupted while waiting to retry " + what);
      io.initCause(cause);
      throw io;
    }
  }

  private void announce(String what, String reason, int attempt, Duration wait, IOException cause) {
    LOG.info("{}: attempt {} of {} failed ({}); retrying in {} ms", what, attempt, policy.maxAttempts(),
        cause.getMessage(), wait.toMillis());
    if (listener != null) {
      listener.retrying(reason);
    }
  }

  /** Why {@code e} is worth another attempt, as a metric label; null when it is not. */
  static String reason(IOException e) {
    if (e instanceof UpstreamContentException) {
      return null;
    }
    if (e instanceof UpstreamException u) {
      return switch (u.status()) {
        case 0 -> causedByTimeout(u) ? "timeout" : "connection";
        case 429, 500, 502, 503, 504 -> "http_" + u.status();
        default -> null;
      };
    }
    // A body that broke off mid-transfer (reset, truncated, idle too long).
    return causedByTimeout(e) ? "timeout" : "body";
  }

  private static boolean causedByTimeout(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof HttpTimeoutException) {
        return true;
      }
    }
    return false;
  }
}
