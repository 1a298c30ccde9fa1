package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated layers into the merger for a bounded time: bit flips, insertions, deletions and truncation of the
 * tar and of its gzip or zstd blob, and header fields (name, mode, size, type, link name, magic, prefix) set
 * to hostile values with the header checksum fixed so the damage gets past it. Digests and diff_ids are made
 * to match the mutated bytes where the case is about the tar, so the parser and merger see the damage, not the
 * digest check. Each case must end, within a few seconds, in a squash whose output reads back as a tar, or in
 * {@link SquashException} / {@link InvalidImageException} with a message naming the layer; nothing else may
 * escape and nothing may be left in the work directory. The seed is fixed ({@code -Dfuzz.seed=N} replays
 * another) and printed on failure.
 */
class LayerMergeFuzzTest {
  static final long BUDGET_NANOS = Long.getLong("fuzz.seconds", 6) * 1_000_000_000L;

  @TempDir(factory = FastTempDirs.class)
  Path work;

  static final List<LayerBuilder> LAYERS = List.of(
      layer().dir("etc").file("etc/os-release", "ID=test").file("bin/sh", "elf".repeat(300)).symlink("bin/ash", "sh"),
      layer().file("etc/os-release", "ID=changed").whiteout("bin/ash").hardlink("bin/busybox", "bin/sh")
          .dir("data").file("data/x", "x".repeat(1500)).xattr("user.k", "v"),
      layer().opaque("data").file("data/y", "y").fifo("run/fifo").charDevice("dev/null", 1, 3)
          .file("long/" + "n".repeat(120), "long name"));

  @Test
  void mutatedLayersFailCleanlyOrSquashIntoAReadableLayer() throws Exception {
    long seed = Long.getLong("fuzz.seed", 20261129L);
    SplittableRandom random = new SplittableRandom(seed);
    ExecutorService runner = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "fuzz-squash");
      t.setDaemon(true);
      return t;
    });
    int cases = 0;
    int squashed = 0;
    int refused = 0;
    String current = "";
    try {
      long end = System.nanoTime() + BUDGET_NANOS;
      while (System.nanoTime() < end) {
        cases++;
        Mutation m = mutate(random);
        current = m.description;
        TestImage image = m.image;
        Future<SquashResult> f = runner.submit(() -> new Squasher().squash(image.manifest(), image.blobs(),
            SquashOptions.DEFAULT.withKeepLayers(m.keep), work));
        try {
          SquashResult result = f.get(10, TimeUnit.SECONDS);
          try {
            if (result.squashed()) {
              readBack(result.squashedLayerFile());
            }
          } finally {
            result.deleteLayerFile();
          }
          squashed++;
        } catch (TimeoutException e) {
          f.cancel(true);
          throw new AssertionError("no answer within 10 s (hang)");
        } catch (java.util.concurrent.ExecutionException e) {
          Throwable t = e.getCause();
          if (t instanceof SquashException s) {
            assertTrue(s.getMessage().startsWith("layer ") && s.layer() != null, s.getMessage());
          } else if (t instanceof InvalidImageException i) {
            assertTrue(i.getMessage() != null && !i.getMessage().isEmpty(), "an empty message");
          } else {
            throw new AssertionError("escaped: " + t, t);
          }
          refused++;
        }
        assertEquals(List.of(), Squashing.leftovers(work), "files left in the work dir");
      }
      System.out.printf("LayerMergeFuzzTest: seed %d, %d cases: %d squashed, %d refused%n", seed, cases, squashed,
          refused);
      assertTrue(cases >= 30, "only " + cases + " cases ran");
      assertTrue(refused > cases / 10 && squashed > cases / 10, "the mutations should both pass and fail: "
          + squashed + " squashed, " + refused + " refused");
    } catch (AssertionError e) {
      throw new AssertionError("seed " + seed + " (replay with -Dfuzz.seed=N), case " + cases + " (" + current
          + "): " + e.getMessage(), e);
    } finally {
      runner.shutdownNow();
    }
  }

  /** The squashed layer must be a tar our own reader accepts, to the end. */
  static void readBack(Path blob) throws Exception {
    try (InputStream in = Compression.decompress(Files.newInputStream(blob)); TarReader r = new TarReader(in)) {
      for (TarEntry e = r.next(); e != null; e = r.next()) {
        r.content().transferTo(java.io.OutputStream.nullOutputStream());
      }
    }
  }

  record Mutation(TestImage image, int keep, String description) {}

  static Mutation mutate(SplittableRandom r) {
    List<byte[]> tars = new ArrayList<>();
    LAYERS.forEach(l -> tars.add(l.tar()));
    int victim = r.nextInt(tars.size());
    int keep = r.nextInt(4) == 0 ? 1 : 0;
    Compression.Algorithm algorithm = r.nextInt(3) == 0 ? Compression.Algorithm.ZSTD : Compression.Algorithm.GZIP;
    TestImage.Builder b = TestImage.oci().compression(algorithm);
    String what;
    byte[] rawBlob = null;
    byte[] tar = tars.get(victim);
    switch (r.nextInt(4)) {
      case 0 -> {
        what = "header field";
        tar = corruptHeaderField(tar, r);
      }
      case 1 -> {
        what = "tar bytes";
        tar = corruptBytes(tar, r);
      }
      case 2 -> {
        what = "tar truncated";
        tar = Arrays.copyOf(tar, r.nextInt(tar.length));
      }
      default -> {
        what = "compressed bytes";
        byte[] blob = algorithm == Compression.Algorithm.ZSTD ? Blobs.zstd(tar) : Blobs.gzip(tar);
        rawBlob = r.nextBoolean() ? corruptBytes(blob, r) : Arrays.copyOf(blob, r.nextInt(blob.length));
      }
    }
    for (int i = 0; i < tars.size(); i++) {
      if (i == victim && rawBlob != null) {
        b.rawLayer(tars.get(i), rawBlob, algorithm == Compression.Algorithm.ZSTD ? MediaTypes.OCI_LAYER_ZSTD
            : MediaTypes.OCI_LAYER_GZIP);
      } else {
        b.layer(i == victim ? tar : tars.get(i));
      }
    }
    return new Mutation(b.build(), keep, what + " in layer " + victim + ", keep " + keep + ", " + algorithm);
  }

  static byte[] corruptBytes(byte[] in, SplittableRandom r) {
    List<Byte> b = new ArrayList<>();
    for (byte x : in) {
      b.add(x);
    }
    int edits = 1 + r.nextInt(8);
    for (int i = 0; i < edits && !b.isEmpty(); i++) {
      int at = r.nextInt(b.size());
      switch (r.nextInt(3)) {
        case 0 -> b.set(at, (byte) (b.get(at) ^ (1 << r.nextInt(8))));
        case 1 -> b.add(at, (byte) r.nextInt(256));
        default -> b.remove(at);
      }
    }
    byte[] out = new byte[b.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.get(i);
    }
    return out;
  }

  /** Offsets of the header blocks of a ustar archive. */
  static List<Integer> headers(byte[] tar) {
    List<Integer> out = new ArrayList<>();
    int off = 0;
    while (off + 512 <= tar.length && tar[off] != 0) {
      out.add(off);
      String size = new String(tar, off + 124, 11, StandardCharsets.US_ASCII).trim();
      long n = size.isEmpty() ? 0 : Long.parseLong(size, 8);
      off += 512 + (int) ((n + 511) / 512 * 512);
    }
    return out;
  }

  /** One header field set to a hostile value, with the checksum made right again. */
  static byte[] corruptHeaderField(byte[] tar, SplittableRandom r) {
    byte[] out = tar.clone();
    List<Integer> hs = headers(out);
    int h = hs.get(r.nextInt(hs.size()));
    int[][] fields = {{0, 100}, {100, 8}, {108, 8}, {124, 12}, {136, 12}, {156, 1}, {157, 100}, {257, 6},
        {345, 155}};
    int[] f = fields[r.nextInt(fields.length)];
    List<String> values = List.of("../../etc/passwd", "/etc/shadow", "77777777777", "-1", "99999999999",
        "\u0080\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0001", "", "a/./b/../../..", ".wh..wh..opq",
        "0", "5", "7", "S", "x", "L", "K", "g", "\u00ff\u00fe", "ustar ", "/");
    byte[] v = values.get(r.nextInt(values.size())).getBytes(StandardCharsets.ISO_8859_1);
    if (r.nextInt(4) == 0) {
      v = new byte[f[1]];
      for (int i = 0; i < v.length; i++) {
        v[i] = (byte) r.nextInt(256);
      }
    }
    Arrays.fill(out, h + f[0], h + f[0] + f[1], (byte) 0);
    System.arraycopy(v, 0, out, h + f[0], Math.min(v.length, f[1]));
    fixChecksum(out, h);
    return out;
  }

  /** Recomputes the checksum of the header block at {@code h}. */
  static void fixChecksum(byte[] tar, int h) {
    long sum = 0;
    for (int i = 0; i < 512; i++) {
      sum += (i >= 148 && i < 156) ? ' ' : (tar[h + i] & 0xff);
    }
    byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(chk, 0, tar, h + 148, 8);
  }
}
