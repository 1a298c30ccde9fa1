package io.squashproxy.proxy.service;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * Images refused as broken ({@link BrokenImages}), remembered by source digest so that a client retrying in
 * a loop, or a fleet of CI jobs, does not have the proxy read (and maybe download) the same broken image
 * again on every pull: within the TTL the same refusal is answered at once. The key is the source digest
 * with the upstream, repository and rule (another rule may read other layers); a tag that moves to a new
 * digest is tried afresh. Bounded (least recently used dropped) and timed by an injected {@link Ticker}.
 */
public final class RefusedImages {
  public static final Duration DEFAULT_TTL = Duration.ofMinutes(10);
  public static final long DEFAULT_MAX = 10_000;

  private record Key(String upstream, String repository, Digest source, SquashRule rule) {}

  /** A refusal remembered: what the client was told; {@code at} is the ticker time it was made. */
  public record Refusal(String image, String message, long at, RegistryException error) {}

  private final Cache<Key, Refusal> refusals;
  private final Ticker ticker;
  private final Duration ttl;
  private final LongAdder repeated = new LongAdder();

  public RefusedImages(Ticker ticker) {
    this(ticker, DEFAULT_TTL, DEFAULT_MAX);
  }

  public RefusedImages(Ticker ticker, Duration ttl, long maxEntries) {
    this.ticker = ticker;
    this.ttl = ttl;
    this.refusals = Caffeine.newBuilder().ticker(ticker).expireAfterWrite(ttl).maximumSize(maxEntries)
        .executor(Runnable::run).build();
  }

  /**
   * Runs {@code squash} unless this source was refused within the TTL, in which case the refusal is thrown
   * again; a new refusal ({@code MANIFEST_INVALID}) is remembered.
   */
  <T> T remembering(Route route, Digest source, Supplier<T> squash) {
    Key key = new Key(route.upstream().name(), route.repository(), source, route.rule());
    Refusal known = refusals.getIfPresent(key);
    if (known != null) {
      repeated.increment();
      RegistryException e = known.error();
      throw new RegistryException(e.code(), e.status(), e.getMessage(), e.detail(), null);
    }
    try {
      return squash.get();
    } catch (RegistryException e) {
      if (e.code() == ErrorCode.MANIFEST_INVALID) {
        refusals.put(key, new Refusal(route.clientName() + "@" + source, e.getMessage(), ticker.read(), e));
      }
      throw e;
    }
  }

  /** The refusals remembered now, newest first. */
  public List<Refusal> all() {
    refusals.cleanUp();
    return refusals.asMap().values().stream().sorted(Comparator.comparingLong(Refusal::at).reversed()).toList();
  }

  public Duration ttl() {
    return ttl;
  }

  /** Pulls answered with a remembered refusal, without reading the image again. */
  public long repeated() {
    return repeated.sum();
  }

  public void bindTo(MeterRegistry registry) {
    Gauge.builder("squash_proxy_refused_images", refusals, c -> {
      c.cleanUp();
      return c.estimatedSize();
    }).description("broken upstream images whose refusal is remembered (answered without reading them again)")
        .register(registry);
    FunctionCounter.builder("squash_proxy_refusals_repeated", repeated, LongAdder::doubleValue)
        .description("pulls of a broken image answered with its remembered refusal").register(registry);
  }
}
