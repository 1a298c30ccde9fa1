package io.squashproxy.proxy.service;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * Upstream lookups in flight, so that concurrent requests for one key share one upstream request (a
 * manifest GET counts against Docker Hub's pull limit). An entry lives only while its request runs:
 * afterwards the tag store and the content store answer.
 */
final class SingleFlight {
  private final AsyncCache<Object, Object> running;
  private final Executor io;

  SingleFlight(Executor io) {
    this.io = io;
    this.running = Caffeine.newBuilder().executor(io).buildAsync();
  }

  /** Joins the lookup running for {@code key}, or starts {@code fetch} on the io pool. */
  @SuppressWarnings("unchecked")
  <T> CompletableFuture<T> get(Object key, Supplier<T> fetch) {
    CompletableFuture<Object> f = running.get(key, (k, ex) -> ScheduledRetries.supplyAsync(fetch::get, io));
    f.whenComplete((v, e) -> running.asMap().remove(key, f));
    return (CompletableFuture<T>) f;
  }
}
