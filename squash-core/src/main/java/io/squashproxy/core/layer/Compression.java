package io.squashproxy.core.layer;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * A layer compression with its level, parsed from {@code gzip}, {@code gzip:9}, {@code zstd:3}, {@code none},
 * {@code estargz}, {@code estargz:9} or {@code estargz:9:CHUNK}.
 *
 * <p>{@code estargz} is gzip in the layout containerd's stargz-snapshotter pulls lazily (a gzip member per file
 * chunk, a table of contents at the end; {@link io.squashproxy.core.estargz.EstargzWriter}): any gzip reader
 * reads it as an ordinary gzip layer. It needs the tar entries, so a squashed layer writer makes it, not {@link
 * #compress}.
 *
 * @param level gzip level 1..9 (also for estargz), zstd level 1..22, 0 for none
 * @param chunkSize estargz only (0 otherwise): regular files larger than this are split into chunks of it,
 *     each its own gzip member; stargz-snapshotter's default {@value #DEFAULT_ESTARGZ_CHUNK_SIZE}
 */
public record Compression(Algorithm algorithm, int level, int chunkSize) {

  public enum Algorithm { GZIP, ZSTD, NONE, ESTARGZ }

  public static final int DEFAULT_GZIP_LEVEL = 6;
  public static final int DEFAULT_ZSTD_LEVEL = 3;
  public static final Compression GZIP = new Compression(Algorithm.GZIP, DEFAULT_GZIP_LEVEL);
  public static final Compression ZSTD = new Compression(Algorithm.ZSTD, DEFAULT_ZSTD_LEVEL);
  public static final Compression NONE = new Compression(Algorithm.NONE, 0);
  public static final int DEFAULT_ESTARGZ_CHUNK_SIZE = 4 << 20;
  public static final Compression ESTARGZ = new Compression(Algorithm.ESTARGZ, DEFAULT_GZIP_LEVEL);

  public Compression {
    if (algorithm != Algorithm.ESTARGZ) {
      chunkSize = 0;
    } else if (chunkSize < 1) {
      throw new IllegalArgumentException("estargz chunk size must be at least 1 byte, got " + chunkSize);
    }
    switch (algorithm) {
      case GZIP, ESTARGZ -> {
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

  /** A compression with the default chunk size (for estargz). */
  public Compression(Algorithm algorithm, int level) {
    this(algorithm, level, algorithm == Algorithm.ESTARGZ ? DEFAULT_ESTARGZ_CHUNK_SIZE : 0);
  }

  /** This estargz compression with another chunk size. */
  public Compression withChunkSize(int bytes) {
    if (algorithm != Algorithm.ESTARGZ) {
      throw new IllegalArgumentException("a chunk size goes with estargz, not " + this);
    }
    return new Compression(algorithm, level, bytes);
  }

  /** Gzip or estargz: a gzip stream for every reader. */
  public boolean isGzip() {
    return algorithm == Algorithm.GZIP || algorithm == Algorithm.ESTARGZ;
  }

  /**
   * Parses {@code gzip}, {@code gzip:LEVEL}, {@code zstd}, {@code zstd:LEVEL}, {@code none}, {@code estargz},
   * {@code estargz:LEVEL} or {@code estargz:LEVEL:CHUNK_BYTES} (what {@link #toString} writes).
   */
  public static Compression parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    String[] parts = t.split(":", -1);
    Algorithm algorithm = switch (parts[0]) {
      case "gzip" -> Algorithm.GZIP;
      case "zstd" -> Algorithm.ZSTD;
      case "none", "uncompressed" -> Algorithm.NONE;
      case "estargz" -> Algorithm.ESTARGZ;
      default -> throw new IllegalArgumentException("unknown compression '" + text
          + "' (expected gzip, gzip:LEVEL, zstd, zstd:LEVEL, none, estargz or estargz:LEVEL)");
    };
    if (parts.length > (algorithm == Algorithm.ESTARGZ ? 3 : 2)) {
      throw new IllegalArgumentException("invalid compression '" + text + "'");
    }
    if (parts.length == 1) {
      return switch (algorithm) {
        case GZIP -> GZIP;
        case ZSTD -> ZSTD;
        case NONE -> NONE;
        case ESTARGZ -> ESTARGZ;
      };
    }
    int level;
    try {
      level = Integer.parseInt(parts[1]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("invalid compression level in '" + text + "'");
    }
    if (parts.length == 2) {
      return new Compression(algorithm, level);
    }
    try {
      return new Compression(algorithm, level, Integer.parseInt(parts[2]));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("invalid estargz chunk size in '" + text + "' (bytes)");
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

  /**
   * As {@link #compress(OutputStream)}, gzip blocks compressed on {@code pool}.
   *
   * @throws IllegalStateException for estargz, which is made from tar entries, not bytes
   */
  public OutputStream compress(OutputStream out, CompressionPool pool) throws IOException {
    return switch (algorithm) {
      case ESTARGZ -> throw new IllegalStateException("estargz is written by EstargzWriter from tar entries");
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
      case ESTARGZ -> "estargz:" + level + (chunkSize == DEFAULT_ESTARGZ_CHUNK_SIZE ? "" : ":" + chunkSize);
    };
  }
}
