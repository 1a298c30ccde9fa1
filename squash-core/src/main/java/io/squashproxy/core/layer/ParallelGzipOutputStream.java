package io.squashproxy.core.layer;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.zip.CRC32;
import java.util.function.LongConsumer;
import java.util.zip.Deflater;

/**
 * A gzip stream compressed on several threads the way pigz does it, with output that depends only on the
 * input and the level: never on the number of threads or their timing (squashed digests must be the same on
 * every replica).
 *
 * <p>The input is cut into fixed {@value #BLOCK}-byte blocks. Each block is deflated on its own, primed with
 * the previous {@value #DICT} bytes of input as preset dictionary (so matches still reach back across the cut),
 * and ended with a sync flush (an empty stored block) so it ends on a byte boundary; the last block finishes
 * the deflate stream. The blocks are written in order after one fixed gzip header (no name, mtime 0, OS
 * unknown); the CRC-32 and length trailer is computed on the writing thread. The result is one ordinary gzip
 * member that any gunzip reads.
 *
 * <p>At most {@code maxInFlight} blocks are queued or being compressed at a time, so memory stays bounded
 * (about {@code maxInFlight * 2 * BLOCK}); the writer waits for the oldest block when the limit is reached.
 * The executor must not be one whose threads call {@link #write} themselves (they would wait on each other).
 *
 * <p>{@link #newMember} ends the gzip member and starts another (eStargz: each file chunk its own member); the
 * members are compressed in parallel like the blocks, and their output order and bytes stay the same.
 */
public final class ParallelGzipOutputStream extends OutputStream {
  /** Bytes of input per independently compressed block (pigz's default). */
  public static final int BLOCK = 128 * 1024;
  /** Bytes of preceding input given to each block as preset dictionary (deflate's window). */
  public static final int DICT = 32 * 1024;

  private static final byte[] HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};

  /** Deflaters kept per pool thread and level: allocating one costs about 256 KiB of native memory. */
  private static final ThreadLocal<Deflater[]> DEFLATERS = ThreadLocal.withInitial(() -> new Deflater[10]);

  private final OutputStream out;
  private final int level;
  private final Executor executor;
  private final int maxInFlight;
  private final CRC32 crc = new CRC32();
  /** Output pieces in order: compressed blocks, and the headers and trailers of members started later. */
  private final ArrayDeque<Piece> inFlight = new ArrayDeque<>();
  /** Pieces in {@link #inFlight} that are compressions (headers and trailers are a few bytes each). */
  private int compressing;
  private long written;
  private byte[] block = new byte[BLOCK];
  private int filled;
  private byte[] dictionary; // the last DICT bytes of the previous block, null for the first
  private long length;
  private boolean finished;
  private boolean closed;

  public ParallelGzipOutputStream(OutputStream out, int level, Executor executor, int maxInFlight)
      throws IOException {
    if (level < 0 || level > 9) {
      throw new IllegalArgumentException("gzip level must be 0..9, got " + level);
    }
    if (maxInFlight < 1) {
      throw new IllegalArgumentException("maxInFlight must be >= 1");
    }
    this.out = out;
    this.level = level;
    this.executor = executor;
    this.maxInFlight = maxInFlight;
    out.write(HEADER);
    written = HEADER.length;
  }

  /** A piece of output; {@code atStart}, when set, learns the compressed offset the piece starts at. */
  private record Piece(CompletableFuture<byte[]> bytes, boolean compressed, LongConsumer atStart) {}

  @Override
  public void write(int b) throws IOException {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    if (finished) {
      throw new IOException("gzip stream already finished");
    }
    crc.update(b, off, len);
    length += len;
    while (len > 0) {
      int n = Math.min(len, BLOCK - filled);
      System.arraycopy(b, off, block, filled, n);
      filled += n;
      off += n;
      len -= n;
      if (filled == BLOCK) {
        submit(false);
      }
    }
  }

  private void submit(boolean last) throws IOException {
    int size = filled;
    byte[] dict = dictionary;
    byte[] input;
    if (size == BLOCK) {
      input = block;
      block = new byte[BLOCK];
    } else {
      // a member's short last block (eStargz: one per small file): copy it and keep the big buffer
      input = Arrays.copyOf(block, size);
    }
    if (!last) {
      dictionary = Arrays.copyOfRange(input, size - DICT, size);
    }
    filled = 0;
    while (compressing >= maxInFlight) {
      writeOldest();
    }
    int lvl = level;
    inFlight.add(new Piece(CompletableFuture.supplyAsync(() -> deflate(lvl, input, size, dict, last), executor),
        true, null));
    compressing++;
  }

  /**
   * Ends the current gzip member (its trailer) and starts a new one (its header); the input so far is all in
   * the members before. {@code atStart} is told the new member's offset in the output once everything before
   * it is written (on the writing thread, during a later write, {@link #drain} or {@link #finish}).
   */
  public void newMember(LongConsumer atStart) throws IOException {
    if (finished) {
      throw new IOException("gzip stream already finished");
    }
    submit(true);
    inFlight.add(new Piece(CompletableFuture.completedFuture(trailer()), false, null));
    crc.reset();
    length = 0;
    dictionary = null;
    inFlight.add(new Piece(CompletableFuture.completedFuture(HEADER.clone()), false, atStart));
  }

  /** Waits for every block submitted so far and writes it; what was written but not yet submitted stays. */
  public void drain() throws IOException {
    while (!inFlight.isEmpty()) {
      writeOldest();
    }
  }

  /** Compressed bytes written to the underlying stream so far. */
  public long compressedBytes() {
    return written;
  }

  private void writeOldest() throws IOException {
    Piece head = inFlight.poll();
    if (head.compressed) {
      compressing--;
    }
    if (head.atStart != null) {
      head.atStart.accept(written);
    }
    try {
      byte[] bytes = head.bytes.get();
      out.write(bytes);
      written += bytes.length;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while compressing");
    } catch (ExecutionException e) {
      throw new IOException("gzip block compression failed: " + e.getCause(), e.getCause());
    }
  }

  static byte[] deflate(int level, byte[] input, int size, byte[] dict, boolean last) {
    Deflater[] perLevel = DEFLATERS.get();
    Deflater d = perLevel[level];
    if (d == null) {
      d = new Deflater(level, true);
      perLevel[level] = d;
    } else {
      d.reset();
    }
    if (dict != null) {
      d.setDictionary(dict);
    }
    d.setInput(input, 0, size);
    if (last) {
      d.finish();
    }
    // Deflate's worst case is a few bytes per 16 KiB over the input; grow if a block ever needs more.
    byte[] buf = new byte[size + (size >> 8) + 64];
    int n = 0;
    int flush = last ? Deflater.NO_FLUSH : Deflater.SYNC_FLUSH;
    while (true) {
      n += d.deflate(buf, n, buf.length - n, flush);
      boolean done = last ? d.finished() : (d.needsInput() && n < buf.length);
      if (done) {
        break;
      }
      buf = Arrays.copyOf(buf, buf.length * 2);
    }
    return Arrays.copyOf(buf, n);
  }

  /** Compresses what is left, writes every block and the trailer; does not close the underlying stream. */
  public void finish() throws IOException {
    if (finished) {
      return;
    }
    submit(true);
    finished = true;
    drain();
    out.write(trailer());
    written += 8;
  }

  /** The current member's CRC-32 and length (mod 2^32), little-endian. */
  private byte[] trailer() {
    long c = crc.getValue();
    byte[] trailer = new byte[8];
    for (int i = 0; i < 4; i++) {
      trailer[i] = (byte) (c >>> (8 * i));
      trailer[4 + i] = (byte) (length >>> (8 * i));
    }
    return trailer;
  }

  @Override
  public void flush() throws IOException {
    out.flush();
  }

  /** Finishes and closes the underlying stream; after a failure, abandons the blocks still in flight. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      finish();
    } catch (IOException | RuntimeException e) {
      inFlight.forEach(p -> p.bytes.cancel(false));
      inFlight.clear();
      try {
        out.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    out.close();
  }
}
