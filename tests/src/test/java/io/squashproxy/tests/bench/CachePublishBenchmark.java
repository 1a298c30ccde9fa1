package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The cost of durable cache writes (issue #14 item 5): storing what a cold pull stores (one 64 MiB layer,
 * eight 2 MiB layers, twenty 2 KiB configs and manifests) with {@link ContentStore#putBlob}, which flushes
 * each file before its rename and the directory after, against the same writes without the flushes (work
 * file, digest check, rename: the store before), on the same disk, in alternating rounds of one run
 * ({@code -Dbench.runs}, default 5), with {@code sync} between rounds so that neither pays for the other's
 * write-back. The squash itself (squash throughput benchmark) and serving a cached blob (serve blob
 * benchmark) write nothing to the cache, so this is where the cost shows.
 */
class CachePublishBenchmark {
  static final int RUNS = Integer.getInteger("bench.runs", 5);

  @Test
  void durableWritesAgainstUnflushedOnes() throws IOException {
    try (Scratch work = Scratch.create("bench-publish")) {
      Random random = new Random(14);
      List<byte[]> blobs = new ArrayList<>();
      blobs.add(bytes(random, 64 << 20));
      for (int i = 0; i < 8; i++) {
        blobs.add(bytes(random, 2 << 20));
      }
      for (int i = 0; i < 20; i++) {
        blobs.add(bytes(random, 2 << 10));
      }
      List<Digest> digests = blobs.stream().map(Digest::sha256).toList();
      long total = blobs.stream().mapToLong(b -> b.length).sum();
      double[] durable = new double[RUNS];
      double[] plain = new double[RUNS];
      for (int r = 0; r < RUNS; r++) {
        boolean durableFirst = r % 2 == 0;
        for (int side = 0; side < 2; side++) {
          boolean d = (side == 0) == durableFirst;
          Path dir = work.dir((d ? "durable-" : "plain-") + r);
          ContentStore store = new ContentStore(dir, 1L << 40, Runnable::run);
          store.open();
          Proc.of("sync").ok();
          long t0 = System.nanoTime();
          for (int i = 0; i < blobs.size(); i++) {
            if (d) {
              store.putBlob(digests.get(i), blobs.get(i).length, new ByteArrayInputStream(blobs.get(i)));
            } else {
              unflushed(store, digests.get(i), blobs.get(i));
            }
          }
          double s = (System.nanoTime() - t0) / 1e9;
          (d ? durable : plain)[r] = s;
          System.out.printf(Locale.ROOT, "[bench] round %d %s: %.3f s%n", r + 1, d ? "durable" : "unflushed", s);
        }
      }
      double md = WrkComparison.median(durable);
      double mp = WrkComparison.median(plain);
      int entries = blobs.size();
      new BenchTable("5-cache-publish", "Durable cache writes: flushed before published (29 entries, "
          + BenchTable.mib(total) + ")")
          .row("store a cold pull's blobs, flushed (fdatasync file, fsync directory) vs unflushed",
              String.format(Locale.ROOT, "%.3f s", md), String.format(Locale.ROOT, "%.3f s", mp), md / mp,
              "reported", true)
          .fact("cost per entry published", String.format(Locale.ROOT, "%.1f ms", (md - mp) * 1000 / entries))
          .note("Median of " + RUNS + " alternating rounds, each into a fresh store directory on the same disk, "
              + "with sync between rounds; both sides verify the SHA-256 and rename into place.")
          .write();
      assertTrue(md > 0 && mp > 0);
    }
  }

  /** What {@link ContentStore#putBlob} did before the flushes: work file, digest check, rename. */
  private static void unflushed(ContentStore store, Digest d, byte[] blob) throws IOException {
    Path t = Files.createTempFile(store.tmpDir(), "blob-", ".tmp");
    try (OutputStream out = Files.newOutputStream(t);
        VerifyingInputStream v = new VerifyingInputStream(new ByteArrayInputStream(blob), "blob " + d, d,
            blob.length)) {
      v.transferTo(out);
    }
    Path target = store.blobPath(d);
    Files.createDirectories(target.getParent());
    Files.move(t, target, StandardCopyOption.ATOMIC_MOVE);
  }

  private static byte[] bytes(Random random, int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    return b;
  }
}
