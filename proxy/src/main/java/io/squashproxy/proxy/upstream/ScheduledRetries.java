package io.squashproxy.proxy.upstream;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * Runs a blocking upstream task on the io pool so that its retries wait without a thread. Inside such a
 * task, {@link Retrier#call} does not sleep between attempts: it throws {@link RetryLater}, which unwinds
 * the task, and the task is run again from the top on the io pool when the pause is over (a 429's
 * {@code Retry-After} can be half a minute: fifty such pulls would otherwise park fifty io threads, and
 * cached content, which is read on the same pool, would wait behind them). The attempts already spent on
 * each request are kept across runs, so the retry policy holds as before.
 *
 * <p>Running again from the top is safe because retried requests are reads whose results are stored only
 * after they succeed: a task is a lookup such as "HEAD the tag, then record it", and it is unwound before
 * anything is recorded.
 */
public final class ScheduledRetries {
  private static final ThreadLocal<Attempts> CURRENT = new ThreadLocal<>();

  private ScheduledRetries() {}

  /** Like {@link CompletableFuture#supplyAsync(Supplier, Executor)}, with retries that hold no thread. */
  public static <T> CompletableFuture<T> supplyAsync(Supplier<T> task, Executor io) {
    CompletableFuture<T> result = new CompletableFuture<>();
    submit(task, io, new Attempts(), result);
    return result;
  }

  private static <T> void submit(Supplier<T> task, Executor io, Attempts attempts, CompletableFuture<T> result) {
    try {
      io.execute(() -> run(task, io, attempts, result));
    } catch (RejectedExecutionException e) {
      result.completeExceptionally(new CompletionException(e));
    }
  }

  private static <T> void run(Supplier<T> task, Executor io, Attempts attempts, CompletableFuture<T> result) {
    Attempts outer = CURRENT.get();
    CURRENT.set(attempts);
    try {
      result.complete(task.get());
    } catch (Throwable t) {
      RetryLater later = find(t);
      if (later != null) {
        later.scheduler.schedule(later.wait, () -> submit(task, io, attempts, result));
      } else {
        result.completeExceptionally(t instanceof CompletionException ? t : new CompletionException(t));
      }
    } finally {
      if (outer == null) {
        CURRENT.remove();
      } else {
        CURRENT.set(outer);
      }
    }
  }

  private static RetryLater find(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof RetryLater r) {
        return r;
      }
    }
    return null;
  }

  /** Whether {@code t} (or a cause) asks for the task to be run again later: let it unwind the task. */
  public static boolean isRetryLater(Throwable t) {
    return find(t) != null;
  }

  /** Whether the calling thread runs a task of {@link #supplyAsync}, so a retry can be scheduled. */
  static boolean active() {
    return CURRENT.get() != null;
  }

  /** Attempts of {@code what} made in earlier runs of the current task (0 outside one). */
  static int attemptsMade(String what) {
    Attempts a = CURRENT.get();
    return a == null ? 0 : a.made.getOrDefault(what, 0);
  }

  /** Records that {@code attempt} of {@code what} failed and the task is to run again after {@code wait}. */
  static RetryLater later(String what, int attempt, Duration wait, Retrier.Scheduler scheduler,
      IOException cause) {
    CURRENT.get().made.put(what, attempt);
    return new RetryLater(what, wait, scheduler, cause);
  }

  /** Per task: failed attempts so far of each request, by its description. */
  private static final class Attempts {
    final Map<String, Integer> made = new HashMap<>();
  }

  /** Unwinds a task whose request is to be tried again after {@link #wait}. Never reaches a client. */
  static final class RetryLater extends IOException {
    private static final long serialVersionUID = 1L;
    final transient Duration wait;
    final transient Retrier.Scheduler scheduler;

    RetryLater(String what, Duration wait, Retrier.Scheduler scheduler, IOException cause) {
      super(what + ": retrying in " + wait.toMillis() + " ms", cause);
      this.wait = wait;
      this.scheduler = scheduler;
    }
  }
}
