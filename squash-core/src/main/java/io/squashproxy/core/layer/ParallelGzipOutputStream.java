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
  private final ArrayDeque<CompletableFuture<byte[]>> inFlight = new ArrayDeque<>();
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
  }

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
    byte[] input = block;
    int size = filled;
    byte[] dict = dictionary;
    if (!last) {
      dictionary = Arrays.copyOfRange(input, size - DICT, size);
      block = new byte[BLOCK];
      filled = 0;
    }
    while (inFlight.size() >= maxInFlight) {
      writeOldest();
    }
    int lvl = level;
    inFlight.add(CompletableFuture.supplyAsync(() -> deflate(lvl, input, size, dict, last), executor));
  }

  private void writeOldest() throws IOException {
    CompletableFuture<byte[]> head = inFlight.poll();
    try {
      out.write(head.get());
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
    while (!inFlight.isEmpty()) {
      writeOldest();
    }
    long c = crc.getValue();
    byte[] trailer = new byte[8];
    for (int i = 0; i < 4; i++) {
      trailer[i] = (byte) (c >>> (8 * i));
      trailer[4 + i] = (byte) (length >>> (8 * i));
    }
    out.write(trailer);
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
      inFlight.forEach(f -> f.cancel(false));
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
