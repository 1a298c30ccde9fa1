package io.squashproxy.core.squash;

import java.time.Duration;

/**
 * What a squash did.
 *
 * @param compressedBytesBefore sum of the source layers' blob sizes
 * @param compressedBytesAfter sum of the result's layer blob sizes
 * @param uncompressedBytesBefore sum of the source layers' tar sizes
 * @param uncompressedBytesAfter sum of the result layers' tar sizes (kept layers counted as they were)
 * @param method how the layers were merged: "one pass", "two passes: " and why, or "unchanged"
 * @param wastedBytes file content that upper layers hide, as {@link WasteAnalysis} found it ({@code auto}
 *     squashes); -1 where the squash did not analyse the image
 */
public record SquashReport(
    int layersBefore,
    int layersAfter,
    long compressedBytesBefore,
    long compressedBytesAfter,
    long uncompressedBytesBefore,
    long uncompressedBytesAfter,
    Duration elapsed,
    String method,
    long wastedBytes) {

  /** {@link #method} of a squash made in one pass. */
  public static final String ONE_PASS = "one pass";

  /** Whether the layers were merged in one pass (else two, and {@link #method} says why). */
  public boolean onePass() {
    return ONE_PASS.equals(method);
  }

  public long bytesSaved() {
    return compressedBytesBefore - compressedBytesAfter;
  }

  public double percentSaved() {
    return compressedBytesBefore == 0 ? 0 : 100.0 * bytesSaved() / compressedBytesBefore;
  }

  /** One line for logs and the CLI. */
  public String summary() {
    return String.format(java.util.Locale.ROOT,
        "layers %d -> %d, compressed %s -> %s (saved %s, %.1f%%), uncompressed %s -> %s, took %.2fs, %s",
        layersBefore, layersAfter, bytes(compressedBytesBefore), bytes(compressedBytesAfter),
        bytes(bytesSaved()), percentSaved(), bytes(uncompressedBytesBefore), bytes(uncompressedBytesAfter),
        elapsed.toMillis() / 1000.0, method);
  }

  public static String bytes(long n) {
    long abs = Math.abs(n);
    if (abs < 1024) {
      return n + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double v = n;
    int u = -1;
    while (Math.abs(v) >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
  }
}
