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
 * after a pause, so the last of racing writers wins). A replica that finds the claim taken waits for the
 * claimant's record to be published, up to the lease's length from when it was taken, then squashes
 * itself. A lease older than that (its holder died) is taken over.
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
    return new SquashLeases(shared, length, Duration.ofMillis(250), System::currentTimeMillis,
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
        Optional<Instant> taken = shared.lastModified(object);
        if (taken.isEmpty()) {
          continue; // released just now: claim again
        }
        long until = taken.get().toEpochMilli() + length.toMillis();
        while (wallMillis.getAsLong() < until) {
          if (published.getAsBoolean()) {
            return PUBLISHED;
          }
          sleeper.sleep(poll);
          if (!shared.exists(object)) {
            break; // released (published or failed): look once more, then claim
          }
        }
        if (published.getAsBoolean()) {
          return PUBLISHED;
        }
        if (wallMillis.getAsLong() >= until) {
          LOG.info("{}: the lease on {} expired unpublished; taking it over", key, object);
          shared.delete(object);
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
    return new Lease() {
      @Override
      public boolean publishedElsewhere() {
        return false;
      }

      @Override
      public void close() {
        try {
          shared.delete(object);
        } catch (IOException e) {
          LOG.warn("cannot release {}: {} (it expires by itself)", object, e.getMessage());
        }
      }
    };
  }
}
