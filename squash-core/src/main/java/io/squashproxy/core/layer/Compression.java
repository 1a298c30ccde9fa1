package io.squashproxy.core.layer;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/** A layer compression with its level, parsed from {@code gzip}, {@code gzip:9}, {@code zstd:3}, {@code none}. */
public record Compression(Algorithm algorithm, int level) {

  public enum Algorithm { GZIP, ZSTD, NONE }

  public static final int DEFAULT_GZIP_LEVEL = 6;
  public static final int DEFAULT_ZSTD_LEVEL = 3;
  public static final Compression GZIP = new Compression(Algorithm.GZIP, DEFAULT_GZIP_LEVEL);
  public static final Compression ZSTD = new Compression(Algorithm.ZSTD, DEFAULT_ZSTD_LEVEL);
  public static final Compression NONE = new Compression(Algorithm.NONE, 0);

  public Compression {
    switch (algorithm) {
      case GZIP -> {
        if (level < 1 || level > 9) {
          throw new IllegalArgumentException("gzip level must be 1..9, got " + level);
        }
      }
      case ZSTD -> {
        if (level < 1 || level > 22) {
          throw new IllegalArgumentException("zstd level must be 1..22, got " + level);
        }
      }
      case NONE -> level = 0;
    }
  }

  /** Parses {@code gzip}, {@code gzip:LEVEL}, {@code zstd}, {@code zstd:LEVEL} or {@code none}. */
  public static Compression parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    int colon = t.indexOf(':');
    String name = colon < 0 ? t : t.substring(0, colon);
    Algorithm algorithm = switch (name) {
      case "gzip" -> Algorithm.GZIP;
      case "zstd" -> Algorithm.ZSTD;
      case "none", "uncompressed" -> Algorithm.NONE;
      default -> throw new IllegalArgumentException(
          "unknown compression '" + text + "' (expected gzip, gzip:LEVEL, zstd, zstd:LEVEL or none)");
    };
    if (colon < 0) {
      return switch (algorithm) {
        case GZIP -> GZIP;
        case ZSTD -> ZSTD;
        case NONE -> NONE;
      };
    }
    try {
      return new Compression(algorithm, Integer.parseInt(t.substring(colon + 1)));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("invalid compression level in '" + text + "'");
    }
  }

  /**
   * The version of the bytes {@link #compress} produces for a given input and setting. Squashed layer digests
   * change when it changes, so a cache of squash results can tell records made by an older encoder apart.
   * 1: single-threaded gzip and zstd. 2: gzip in independent 128 KiB blocks (pigz style, see
   * {@link ParallelGzipOutputStream}), zstd with {@value #ZSTD_WORKERS} worker threads.
   */
  public static final int OUTPUT_FORMAT_VERSION = 2;

  /**
   * zstd worker threads. zstd's multithreaded output is the same for any worker count of one or more, but
   * differs from single-threaded output: this stays fixed so digests do not depend on the machine.
   */
  static final int ZSTD_WORKERS = 2;

  /**
   * Wraps {@code out} so that what is written comes out compressed, gzip on the {@linkplain
   * CompressionPool#shared() shared pool}; closing finishes the stream and closes {@code out}.
   */
  public OutputStream compress(OutputStream out) throws IOException {
    return compress(out, CompressionPool.shared());
  }

  /** As {@link #compress(OutputStream)}, gzip blocks compressed on {@code pool}. */
  public OutputStream compress(OutputStream out, CompressionPool pool) throws IOException {
    return switch (algorithm) {
      case GZIP -> new ParallelGzipOutputStream(out, level, pool.executor(), pool.maxInFlight());
      case ZSTD -> {
        ZstdOutputStreamNoFinalizer z = new ZstdOutputStreamNoFinalizer(out, level);
        z.setChecksum(true);
        z.setWorkers(ZSTD_WORKERS);
        yield z;
      }
      case NONE -> out;
    };
  }

  /**
   * Decompresses a layer blob, recognising gzip, zstd or a plain tar by its first bytes rather than by the
   * announced media type (registries in the wild mislabel compressed layers).
   */
  public static InputStream decompress(InputStream raw) throws IOException {
    BufferedInputStream in = new BufferedInputStream(raw, 65536);
    in.mark(4);
    byte[] magic = in.readNBytes(4);
    in.reset();
    if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
      return new GZIPInputStream(in, 65536);
    }
    if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5
        && (magic[2] & 0xff) == 0x2f && (magic[3] & 0xff) == 0xfd) {
      ZstdInputStreamNoFinalizer z = new ZstdInputStreamNoFinalizer(in);
      z.setContinuous(false);
      return z;
    }
    return in;
  }

  @Override
  public String toString() {
    return switch (algorithm) {
      case GZIP -> "gzip:" + level;
      case ZSTD -> "zstd:" + level;
      case NONE -> "none";
    };
  }
}
