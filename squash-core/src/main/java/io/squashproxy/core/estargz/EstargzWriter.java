package io.squashproxy.core.estargz;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.DigestingOutputStream;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.layer.ParallelGzipOutputStream;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Writes a layer as eStargz (containerd stargz-snapshotter's lazily pullable gzip layout), as the Go {@code
 * estargz} package's writer with its {@code GzipCompressor} lays it out:
 *
 * <ul>
 *   <li>the content of every regular file starts a new gzip member, and a file larger than the chunk size is
 *       split into chunks that each start one; a member runs on to the next such start, so the padding and the
 *       headers of the entries in between (directories, links, empty files) go in it;
 *   <li>the tar starts with {@code .no.prefetch.landmark} (or, with prioritised files, they come first and then
 *       {@code .prefetch.landmark}), a one-byte file holding 0x0f;
 *   <li>after the last entry comes a gzip member with the table of contents as tar entry {@code stargz.index.json}
 *       and the tar's end (two zero blocks), then the 51-byte footer: an empty gzip member whose extra field
 *       ({@code SG}) holds {@code %016xSTARGZ} with the offset of the TOC member.
 * </ul>
 *
 * The whole blob is one valid gzip stream (of several members) of one valid tar, so every client that does not
 * know eStargz pulls it as an ordinary gzip layer; its diff_id covers the metadata entries too. Entries named
 * like the metadata entries in the input (an eStargz image squashed again) are dropped. Members are compressed in
 * parallel on the pool ({@link ParallelGzipOutputStream#newMember}); the bytes depend only on the entries, the
 * level and the chunk size. Memory: the TOC (one small object per entry and chunk) and the compressor's blocks.
 */
public final class EstargzWriter implements Closeable {
  public static final String TOC_NAME = "stargz.index.json";
  public static final String PREFETCH_LANDMARK = ".prefetch.landmark";
  public static final String NO_PREFETCH_LANDMARK = ".no.prefetch.landmark";
  /** Layer annotation: the TOC JSON's digest, which the snapshotter verifies the TOC against. */
  public static final String TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest";
  /** Layer annotation: the size of the uncompressed tar (with the metadata entries). */
  public static final String UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size";
  public static final int FOOTER_SIZE = 51;
  static final byte LANDMARK_CONTENTS = 0xf;

  /** The finished layer: its diff_id and tar size (with the metadata entries), and the TOC JSON's digest. */
  public record Result(Digest diffId, long tarSize, Digest tocDigest) {
    /** The layer descriptor annotations the snapshotter (and containers/storage) read. */
    public Map<String, String> annotations() {
      Map<String, String> a = new LinkedHashMap<>();
      a.put(TOC_DIGEST_ANNOTATION, tocDigest.toString());
      a.put(UNCOMPRESSED_SIZE_ANNOTATION, Long.toString(tarSize));
      return a;
    }
  }

  private final OutputStream blob;
  private final ParallelGzipOutputStream gzip;
  private final Cutter cutter;
  private final DigestingOutputStream tarDigest;
  private final Toc toc;
  private final TarWriter tar;
  private boolean prioritizing;
  private long tocOffset = -1;
  private boolean done;

  /**
   * @param blob receives the blob; not closed
   * @param prioritized the caller writes the prioritised entries first and then calls {@link #endPrioritized};
   *     otherwise the tar starts with the no-prefetch landmark
   */
  public EstargzWriter(OutputStream blob, int level, int chunkSize, CompressionPool pool, boolean prioritized)
      throws IOException {
    if (chunkSize < 1) {
      throw new IllegalArgumentException("chunk size must be at least 1, got " + chunkSize);
    }
    this.blob = blob;
    gzip = new ParallelGzipOutputStream(blob, level, pool.executor(), pool.maxInFlight());
    cutter = new Cutter(gzip);
    tarDigest = new DigestingOutputStream(new BufferedOutputStream(cutter, 1 << 16));
    toc = new Toc(chunkSize, cutter);
    tar = new TarWriter(tarDigest, toc);
    prioritizing = prioritized;
    if (!prioritized) {
      landmark(NO_PREFETCH_LANDMARK);
    }
  }

  /** Where the entries go; {@link TarWriter#finish} is {@link #finish}'s. */
  public TarWriter tar() {
    return tar;
  }

  /** After the prioritised entries: writes the prefetch landmark (only with {@code prioritized}). */
  public void endPrioritized() throws IOException {
    if (!prioritizing) {
      throw new IllegalStateException("no prioritised entries are being written");
    }
    prioritizing = false;
    landmark(PREFETCH_LANDMARK);
  }

  /** Compressed bytes written so far (for progress). */
  public long compressedBytes() {
    return gzip.compressedBytes();
  }

  private void landmark(String name) throws IOException {
    toc.metadata = true;
    tar.putEntry(TarEntry.of(name, TarType.REGULAR, 0, 1));
    tar.write(new byte[] {LANDMARK_CONTENTS}, 0, 1);
    toc.metadata = false;
  }

  /** Writes the TOC, the tar's end and the footer; the blob is then complete (and not closed). */
  public Result finish() throws IOException {
    if (prioritizing) {
      endPrioritized();
    }
    // Every member before the TOC must be written to know its offset, which the TOC holds.
    tarDigest.flush();
    gzip.drain();
    cutter.checkAllCut();
    byte[] json = TocJson.write(toc.entries);
    Digest tocDigest = Digest.sha256(json);
    toc.metadata = true;
    toc.tocMember = off -> tocOffset = off;
    tar.putEntry(TarEntry.of(TOC_NAME, TarType.REGULAR, 0, json.length));
    tar.write(json, 0, json.length);
    tar.finish();
    tarDigest.flush();
    done = true;
    gzip.finish();
    if (tocOffset < 0) {
      throw new IllegalStateException("the TOC member was not started");
    }
    blob.write(footer(tocOffset));
    blob.flush();
    return new Result(tarDigest.digest(), tarDigest.count(), tocDigest);
  }

  /** Abandons an unfinished blob (after a failure): frees the compressor; what it writes is thrown away. */
  @Override
  public void close() throws IOException {
    if (!done) {
      done = true;
      gzip.close();
    }
  }

  /** The 51-byte footer: an empty gzip member with the TOC offset in its extra field, as Go's estargz writes it. */
  static byte[] footer(long tocOffset) {
    byte[] f = new byte[FOOTER_SIZE];
    byte[] head = {0x1f, (byte) 0x8b, 8, 4, 0, 0, 0, 0, 0, (byte) 0xff, 26, 0, 'S', 'G', 22, 0};
    System.arraycopy(head, 0, f, 0, head.length);
    byte[] sub = String.format("%016xSTARGZ", tocOffset).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(sub, 0, f, head.length, sub.length);
    // a final stored block of no bytes (Go's flate at NoCompression), then CRC-32 and length of nothing: zeros
    byte[] empty = {1, 0, 0, (byte) 0xff, (byte) 0xff};
    System.arraycopy(empty, 0, f, head.length + sub.length, empty.length);
    return f;
  }

  /**
   * Passes the tar to the gzip stream and starts a new member at the positions asked for (each before the bytes
   * there arrive: the TOC asks when a member's header is about to be written).
   */
  static final class Cutter extends OutputStream {
    private record Cut(long at, LongConsumer atStart) {}

    private final ParallelGzipOutputStream gzip;
    private final ArrayDeque<Cut> cuts = new ArrayDeque<>();
    private long position;

    Cutter(ParallelGzipOutputStream gzip) {
      this.gzip = gzip;
    }

    void cutAt(long at, LongConsumer atStart) {
      Cut last = cuts.peekLast();
      if (at < position || (last != null && at <= last.at)) {
        throw new IllegalStateException("member start " + at + " is not after " + position);
      }
      cuts.add(new Cut(at, atStart));
    }

    void checkAllCut() {
      if (!cuts.isEmpty()) {
        throw new IllegalStateException("member starts beyond the end of the tar: " + cuts.peek().at);
      }
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      while (len > 0) {
        Cut next = cuts.peek();
        if (next != null && next.at == position) {
          cuts.poll();
          gzip.newMember(next.atStart);
          continue;
        }
        int n = next == null ? len : (int) Math.min(len, next.at - position);
        gzip.write(b, off, n);
        off += n;
        len -= n;
        position += n;
      }
    }

    @Override
    public void flush() {
      // the gzip stream writes whole pieces as they are ready; nothing to push
    }
  }
}
