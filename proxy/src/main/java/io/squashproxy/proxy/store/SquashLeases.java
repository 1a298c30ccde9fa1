package io.squashproxy.proxy.store;

import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Saves duplicate squashes across replicas: before squashing, a replica claims the squash with a conditional
 * put of {@code leases/HASH} ({@code If-None-Match: *}; where the store ignores that, a put and a read-back
 * after a pause, so the last of racing writers wins). The holder rewrites the claim every third of the
 * lease's length while it squashes. A replica that finds the claim taken waits for the claimant's record to
 * be published; a claim not rewritten for the lease's length (its holder died or hangs) is taken over.
 *
 * <p>Nothing depends on this for correctness: squash output is reproducible and every write idempotent, so
 * a store without conditional puts, a lost lease or a crashed holder costs only repeated work. Single
 * instances use {@link #none()}.
 */
public final class SquashLeases {
  private static final Logger LOG = LoggerFactory.getLogger(SquashLeases.class);

  /** A claim; close it when the squash is published or has failed. */
  public interface Lease extends AutoCloseable {
    /** True when another replica published the squash while this one waited: serve that. */
    boolean publishedElsewhere();

    @Override
    void close();
  }

  private static final Lease NOTHING = new Lease() {
    @Override
    public boolean publishedElsewhere() {
      return false;
    }

    @Override
    public void close() {}
  };

  private static final Lease PUBLISHED = new Lease() {
    @Override
    public boolean publishedElsewhere() {
      return true;
    }

    @Override
    public void close() {}
  };

  /** How a waiting replica passes time: a real sleep, or a fake clock's advance in tests. */
  public interface Sleeper {
    void sleep(Duration d) throws InterruptedException;
  }

  private final ObjectStore shared;
  private final Duration length;
  private final Duration poll;
  private final LongSupplier wallMillis;
  private final Sleeper sleeper;
  private final String owner = UUID.randomUUID().toString();
  private static final java.util.concurrent.ScheduledExecutorService HEARTBEAT = heartbeat();

  /**
   * Its thread is started at once, not by the first squash that takes a lease: squash workers run at a lower
   * CPU priority, which a thread they start would inherit, and a heartbeat must not fall behind.
   */
  private static java.util.concurrent.ScheduledExecutorService heartbeat() {
    java.util.concurrent.ScheduledThreadPoolExecutor e = new java.util.concurrent.ScheduledThreadPoolExecutor(1,
        r -> {
          Thread t = new Thread(r, "squash-lease-heartbeat");
          t.setDaemon(true);
          return t;
        });
    e.prestartAllCoreThreads();
    return e;
  }

  public SquashLeases(ObjectStore shared, Duration length, Duration poll, LongSupplier wallMillis,
      Sleeper sleeper) {
    this.shared = shared;
    this.length = length;
    this.poll = poll;
    this.wallMillis = wallMillis;
    this.sleeper = sleeper;
  }

  public static SquashLeases none() {
    return new SquashLeases(null, Duration.ZERO, Duration.ZERO, System::currentTimeMillis, d -> {});
  }

  public static SquashLeases over(ObjectStore shared, Duration length) {
    return new SquashLeases(shared, length, Duration.ofMillis(500), System::currentTimeMillis,
        d -> Thread.sleep(d.toMillis()));
  }

  /**
   * Claims the squash named by {@code key} ({@link SquashRecords#sourceKey}), or waits while another
   * replica holds it and {@code published} stays false. Store errors only log: the caller squashes anyway.
   */
  public Lease claim(String key, BooleanSupplier published) {
    if (shared == null || length.isZero()) {
      return NOTHING;
    }
    String object = "leases/" + Digest.sha256(key.getBytes(StandardCharsets.UTF_8)).hex();
    try {
      for (int attempt = 0; attempt < 2; attempt++) {
        if (shared.putIfAbsent(object, owner.getBytes(StandardCharsets.UTF_8)) && confirmed(object)) {
          return held(object);
        }
        while (true) {
          if (published.getAsBoolean()) {
            return PUBLISHED;
          }
          Optional<Instant> taken = shared.lastModified(object);
          if (taken.isEmpty()) {
            break; // released (published or failed): look once more, then claim
          }
          if (wallMillis.getAsLong() >= taken.get().toEpochMilli() + length.toMillis()) {
            LOG.info("{}: the lease on {} was not renewed for {}; taking it over", key, object, length);
            shared.delete(object);
            break;
          }
          sleeper.sleep(poll);
        }
        if (published.getAsBoolean()) {
          return PUBLISHED;
        }
      }
      return NOTHING;
    } catch (IOException e) {
      LOG.warn("{}: cannot claim {} ({}); squashing without a lease", key, object, e.getMessage());
      return NOTHING;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return NOTHING;
    }
  }

  /**
   * Where the store cannot put conditionally, two replicas may both have found the key free and written
   * it: after a pause both read it back, and only the last writer (whose id the store now holds, as S3
   * reads are consistent after writes) goes on.
   */
  private boolean confirmed(String object) throws IOException, InterruptedException {
    if (shared.conditionalPuts()) {
      return true;
    }
    sleeper.sleep(poll);
    return shared.get(object).map(b -> new String(b, StandardCharsets.UTF_8).equals(owner)).orElse(false);
  }

  private Lease held(String object) {
    long every = Math.max(1, length.toMillis() / 3);
    var renewal = HEARTBEAT.scheduleWithFixedDelay(() -> {
      try {
        shared.put(object, owner.getBytes(StandardCharsets.UTF_8));
      } catch (IOException e) {
        LOG.warn("cannot renew {}: {}", object, e.getMessage());
      }
    }, every, every, java.util.concurrent.TimeUnit.MILLISECONDS);
    return new Lease() {
      @Override
      public boolean publishedElsewhere() {
        return false;
      }

      @Override
      public void close() {
        renewal.cancel(false);
        try {
          shared.delete(object);
        } catch (IOException e) {
          LOG.warn("cannot release {}: {} (it expires by itself)", object, e.getMessage());
        }
      }
    };
  }
}
