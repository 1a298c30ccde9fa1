package io.squashproxy.proxy.service;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * Squashes that no client waits for any more (their pull outlasted the rule's {@code wait} and got the
 * original image), from queued (waiting for a squash worker) through running to finished, for the status
 * page and {@code squash_proxy_background_squashes}. Every squash gets a {@link Task}; only those a client
 * stopped waiting for are counted here.
 */
public final class BackgroundSquashes {
  /** Finished background squashes listed on the status page, newest first. */
  static final int RECENT = 50;

  public enum State { QUEUED, RUNNING, FINISHED }

  /** What the status page shows of one background squash. */
  public record Entry(String image, State state, Instant since, String outcome) {}

  private final LongAdder queued = new LongAdder();
  private final LongAdder running = new LongAdder();
  private final LongAdder finishedOk = new LongAdder();
  private final LongAdder finishedFailed = new LongAdder();
  private final Deque<Entry> recent = new ArrayDeque<>();
  private final java.util.Set<Task> live = java.util.concurrent.ConcurrentHashMap.newKeySet();

  public BackgroundSquashes(MeterRegistry registry) {
    Gauge.builder("squash_proxy_background_squashes", queued, LongAdder::doubleValue).tag("state", "queued")
        .description("squashes no client waits for, by state").register(registry);
    Gauge.builder("squash_proxy_background_squashes", running, LongAdder::doubleValue).tag("state", "running")
        .description("squashes no client waits for, by state").register(registry);
    FunctionCounter.builder("squash_proxy_background_squashes_finished", finishedOk, LongAdder::doubleValue)
        .tag("outcome", "ok").description("background squashes finished").register(registry);
    FunctionCounter.builder("squash_proxy_background_squashes_finished", finishedFailed, LongAdder::doubleValue)
        .tag("outcome", "failed").description("background squashes finished").register(registry);
  }

  /** One squash, from its submission to the squash pool. */
  public final class Task {
    private final String image;
    private State state = State.QUEUED;
    private boolean background;
    private Instant since = Instant.now();

    private Task(String image) {
      this.image = image;
    }

    /** On the squash worker, as it starts. */
    synchronized void running() {
      if (background) {
        queued.decrement();
        running.increment();
      }
      state = State.RUNNING;
      since = Instant.now();
    }

    /** A client stopped waiting for it: from now on it counts as a background squash. */
    synchronized void background() {
      if (background || state == State.FINISHED) {
        return;
      }
      background = true;
      live.add(this);
      (state == State.QUEUED ? queued : running).increment();
    }

    synchronized void finished(Throwable failure) {
      if (state == State.FINISHED) {
        return;
      }
      if (background) {
        (state == State.QUEUED ? queued : running).decrement();
        (failure == null ? finishedOk : finishedFailed).increment();
        live.remove(this);
        remember(new Entry(image, State.FINISHED, Instant.now(), failure == null ? "squashed"
            : "failed: " + rootMessage(failure)));
      }
      state = State.FINISHED;
    }

    private synchronized Entry entry() {
      return new Entry(image, state, since, null);
    }
  }

  Task submitted(String image) {
    return new Task(image);
  }

  /** Its own lock, taken inside a task's: {@link #entries} never holds it while it takes a task's. */
  private void remember(Entry e) {
    synchronized (recent) {
      recent.addFirst(e);
      while (recent.size() > RECENT) {
        recent.removeLast();
      }
    }
  }

  public long queued() {
    return queued.sum();
  }

  public long running() {
    return running.sum();
  }

  public long finished() {
    return finishedOk.sum() + finishedFailed.sum();
  }

  /** Queued and running background squashes, then the last {@value #RECENT} finished. */
  public List<Entry> entries() {
    List<Entry> out = new java.util.ArrayList<>(live.stream().map(Task::entry).toList());
    synchronized (recent) {
      out.addAll(recent);
    }
    return out;
  }

  private static String rootMessage(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return String.valueOf(t.getMessage());
  }
}
