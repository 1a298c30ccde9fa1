package io.squashproxy.proxy.testing;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A squash pool the test drives: tasks wait in the queue (a squash "queued") until the test runs them,
 * so states and orderings are asserted without sleeping.
 */
public final class ManualExecutor implements Executor {
  private final BlockingQueue<Runnable> queue = new LinkedBlockingQueue<>();

  @Override
  public void execute(Runnable task) {
    queue.add(task);
  }

  public int queued() {
    return queue.size();
  }

  /** Runs the next task on this thread, waiting up to 30 s for one to be submitted. */
  public void runNext() throws InterruptedException {
    Runnable r = queue.poll(30, TimeUnit.SECONDS);
    if (r == null) {
      throw new AssertionError("no task was submitted");
    }
    r.run();
  }
}
