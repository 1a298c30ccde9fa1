package io.squashproxy.proxy.service;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.registry.Names;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Squashes ahead of demand: images pushed to the registry beside the proxy (its notification events) or
 * named in a warm request are squashed before anyone pulls them, so the first pull is squashed and served
 * from the cache. At most {@code capacity} images wait at once; an image already waiting is not queued
 * twice (a flood of events for one image queues it once); an image whose rule does not squash is skipped.
 * The work runs on the service's pools (the squash on the squash pool), never on the caller's thread.
 */
public final class SquashAhead {
  private static final Logger LOG = LoggerFactory.getLogger(SquashAhead.class);

  public enum Outcome { QUEUED, ALREADY_QUEUED, QUEUE_FULL, NOT_SQUASHED }

  private final ImageService service;
  private final Upstreams upstreams;
  private final int capacity;
  private final Set<String> waiting = ConcurrentHashMap.newKeySet();
  private final LongAdder queued = new LongAdder();
  private final LongAdder refused = new LongAdder();
  private final LongAdder failed = new LongAdder();

  public SquashAhead(ImageService service, Upstreams upstreams, int capacity, MeterRegistry meters) {
    this.service = service;
    this.upstreams = upstreams;
    this.capacity = capacity;
    Gauge.builder("squash_proxy_squash_ahead_waiting", waiting, Set::size)
        .description("images queued to be squashed ahead of demand").register(meters);
    FunctionCounter.builder("squash_proxy_squash_ahead_queued", queued, LongAdder::doubleValue)
        .description("images queued to be squashed ahead of demand").register(meters);
    FunctionCounter.builder("squash_proxy_squash_ahead_refused", refused, LongAdder::doubleValue)
        .description("images not queued: the queue was full").register(meters);
    FunctionCounter.builder("squash_proxy_squash_ahead_failed", failed, LongAdder::doubleValue)
        .description("squashes ahead of demand that failed").register(meters);
  }

  /** Images waiting now. */
  public int waiting() {
    return waiting.size();
  }

  /** A pushed image, from a notification event. */
  public Outcome offer(RegistryEvents.Pushed p) {
    return offer(p.repository(), p.tag(), p.digest() == null ? null : Digest.parse(p.digest()), p.mediaType());
  }

  /** {@code NAME:TAG}, {@code NAME@DIGEST} or {@code NAME} (tag latest), routed as pulls are. */
  public Outcome offer(String image) {
    int at = image.lastIndexOf('@');
    int colon = image.lastIndexOf(':');
    if (at > 0) {
      return offer(image.substring(0, at), null, Names.digest(image.substring(at + 1),
          io.squashproxy.proxy.registry.ErrorCode.MANIFEST_UNKNOWN), null);
    }
    if (colon > image.lastIndexOf('/')) {
      return offer(image.substring(0, colon), image.substring(colon + 1), null, null);
    }
    return offer(image, "latest", null, null);
  }

  private Outcome offer(String name, String tag, Digest digest, String mediaType) {
    Route route = upstreams.resolve(name, null);
    if (route.rule().mode() == SquashRule.Mode.OFF) {
      return Outcome.NOT_SQUASHED;
    }
    String key = route.upstream().name() + "/" + route.repository() + (digest != null ? "@" + digest : ":" + tag);
    if (waiting.contains(key)) {
      return Outcome.ALREADY_QUEUED;
    }
    if (waiting.size() >= capacity) {
      refused.increment();
      return Outcome.QUEUE_FULL;
    }
    if (!waiting.add(key)) {
      return Outcome.ALREADY_QUEUED;
    }
    queued.increment();
    service.warm(route, tag, digest, mediaType).whenComplete((m, e) -> {
      waiting.remove(key);
      if (e != null) {
        failed.increment();
        LOG.warn("squash ahead of {} failed: {}", key, e.getMessage());
      } else {
        LOG.info("squashed ahead of demand: {} -> {}", key, m.digest());
      }
    });
    return Outcome.QUEUED;
  }
}
