package io.squashproxy.proxy.service;

import io.squashproxy.proxy.service.SquashOrchestrator.Squash;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pull's wait for a squash ({@code squash.rules[].wait}): the squashed document if it is ready within the
 * wait, counted from when the squash turns out to have work to do (a squash published before answers at
 * once); past it, the source {@link ServedManifest#asSquashPending marked pending}, and the squash is counted
 * as a background one and goes on. A squash that fails within the wait fails the pull.
 */
final class SquashWait {
  private static final Logger LOG = LoggerFactory.getLogger(SquashWait.class);

  private SquashWait() {}

  static CompletableFuture<ServedManifest> within(Squash s, Route route, ServedManifest source, Executor timer) {
    if (s.result().isDone()) {
      return s.result();
    }
    CompletableFuture<ServedManifest> answer = new CompletableFuture<>();
    s.result().whenComplete((m, e) -> {
      if (e != null) {
        answer.completeExceptionally(e);
      } else {
        answer.complete(m);
      }
    });
    Duration wait = route.rule().squashWait();
    Runnable giveUp = () -> {
      if (answer.isDone()) {
        return;
      }
      s.task().background(); // before the answer, so whoever sees the answer sees it counted
      if (answer.complete(source.asSquashPending())) {
        LOG.info("serving {}@{} as it is: its squash takes longer than the rule's wait ({}), and goes on in "
            + "the background", route.canonicalName(), source.digest(), wait);
      }
    };
    s.working().thenRun(() -> {
      if (wait.isZero()) {
        giveUp.run();
      } else {
        CompletableFuture.delayedExecutor(wait.toNanos(), TimeUnit.NANOSECONDS, timer).execute(giveUp);
      }
    });
    return answer;
  }
}
