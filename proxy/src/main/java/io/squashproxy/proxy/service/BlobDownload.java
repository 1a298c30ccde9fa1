package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.RegistryException;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.upstream.ScheduledRetries;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One upstream GET of a blob, written to a work file in the store's {@code tmp/} (emptied at start, so a
 * crash leaves nothing a reader could find) and hashed as it arrives, then adopted into the store once its
 * digest and size check out. Clients read the growing file while it is written, each through its own
 * {@link Reader} at its own pace: the download never waits for a reader.
 *
 * <p>Until the blob is verified a reader may read all but its last byte ({@link Reader#readable}), so a
 * blob whose digest or size turns out wrong reaches no client complete; readers then see -1 and cut their
 * connection. A failed download is deleted, never stored.
 */
public final class BlobDownload {
  private static final int BUFFER = 128 * 1024;

  private final Digest digest;
  private final CompletableFuture<BlobDownload> started = new CompletableFuture<>();
  private final CompletableFuture<StoredBlob> done = new CompletableFuture<>();
  private final CompletableFuture<Void> idle = new CompletableFuture<>();
  private final List<Runnable> waiting = new ArrayList<>();
  private volatile long size = -1;
  private volatile long written;
  private volatile boolean verified;
  private volatile boolean failed;
  private volatile Throwable failure;
  /** Shared by every reader (positional reads); closed when the download ended and no reader holds it. */
  private FileChannel readChannel;
  private int readers;
  private boolean ended;

  BlobDownload(Digest digest) {
    this.digest = digest;
  }

  public Digest digest() {
    return digest;
  }

  /** The size upstream announced, or -1; known once {@link #started} completed. */
  public long size() {
    return size;
  }

  /** Completes when upstream answered with the body's headers; fails for an absent blob or an error. */
  public CompletableFuture<BlobDownload> started() {
    return started;
  }

  /** The verified blob in the store; fails (and nothing is stored) on any error or mismatch. */
  public CompletableFuture<StoredBlob> done() {
    return done;
  }

  /** Why the download failed, or null. */
  public Throwable failure() {
    return failure;
  }

  /** Completes when the download ended and no client reads the growing file any more. */
  CompletableFuture<Void> idle() {
    return idle;
  }

  /** Blocking: opens the upstream body and copies it into the store. Runs on the io pool. */
  void run(Route route, Storage store, ProxyStats stats) {
    Path tmp = null;
    long begun = System.nanoTime();
    boolean ok = false;
    try {
      stats.upstreamBlobGets.increment();
      try (Upstream.BlobStream body = route.upstream().blob(route.repository(), digest)
          .orElseThrow(() -> new RegistryException(ErrorCode.BLOB_UNKNOWN,
              "blob " + digest + " is not known upstream in " + route.clientName()))) {
        tmp = Files.createTempFile(store.tmpDir(), "blob-", ".part");
        synchronized (this) {
          readChannel = FileChannel.open(tmp, StandardOpenOption.READ);
        }
        size = body.size();
        started.complete(this);
        copy(body.body(), tmp);
      }
      stats.upstreamBlobBytes.add(written);
      markVerified();
      StoredBlob stored = store.adoptVerified(digest, tmp);
      ok = true;
      end();
      done.complete(stored);
    } catch (Throwable e) {
      if (tmp == null && ScheduledRetries.isRetryLater(e)) {
        // Upstream asked to wait (a 429) before anything was sent: the download runs again after the pause.
        throw e instanceof RuntimeException re ? re : new CompletionException(e);
      }
      fail(e);
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // tmp/ is emptied at the next start
        }
      }
    } finally {
      stats.upstreamTook("blob", "get", ok, System.nanoTime() - begun);
    }
  }

  private void copy(InputStream body, Path tmp) throws IOException {
    try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE);
        VerifyingInputStream in = new VerifyingInputStream(body, "blob " + digest, digest, size)) {
      byte[] buf = new byte[BUFFER];
      int n;
      while ((n = in.read(buf, 0, buf.length)) >= 0) {
        ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
        while (b.hasRemaining()) {
          out.write(b);
        }
        written += n;
        wake();
      }
    }
  }

  private void markVerified() {
    verified = true;
    if (size < 0) {
      size = written;
    }
    wake();
  }

  /** Also called by the fetcher when the run could not even start. */
  void fail(Throwable e) {
    Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    failure = cause;
    failed = true;
    started.completeExceptionally(cause);
    end();
    done.completeExceptionally(cause);
    wake();
  }

  /** Served from the store after all (another request stored it first). */
  void completeStored(StoredBlob blob) {
    size = blob.size();
    verified = true;
    end();
    started.complete(this);
    done.complete(blob);
  }

  private void wake() {
    List<Runnable> now;
    synchronized (this) {
      if (waiting.isEmpty()) {
        return;
      }
      now = new ArrayList<>(waiting);
      waiting.clear();
    }
    now.forEach(Runnable::run);
  }

  private void end() {
    boolean nowIdle;
    synchronized (this) {
      ended = true;
      nowIdle = closeIfUnused();
    }
    if (nowIdle) {
      idle.complete(null); // outside the lock: what waits for it runs now
    }
  }

  /** Under the lock: closes the shared channel once unused; true when the download is now idle. */
  private boolean closeIfUnused() {
    if (!ended || readers > 0) {
      return false;
    }
    if (readChannel != null) {
      try {
        readChannel.close();
      } catch (IOException ignored) {
        // read-only
      }
      readChannel = null;
    }
    return true;
  }

  /**
   * A reader of the growing file, or null when the download has ended (the caller then reads the store).
   * Call after {@link #started} completed.
   */
  public synchronized Reader openReader() {
    if (ended || readChannel == null) {
      return null;
    }
    readers++;
    return new Reader(readChannel);
  }

  /** One client's view of the download. Not thread-safe: one reader per response. */
  public final class Reader implements AutoCloseable {
    private final FileChannel channel;
    private boolean closed;

    private Reader(FileChannel channel) {
      this.channel = channel;
    }

    /** The blob's size as announced (or -1 when upstream sent none). */
    public long size() {
      return size;
    }

    /** Bytes from the start that may be sent now; -1 when the download failed (cut the connection). */
    public long readable() {
      if (failed) {
        return -1;
      }
      long w = written;
      if (verified) {
        return w;
      }
      return Math.max(0, w - 1); // the last byte waits for the digest check
    }

    /** Reads from the file at {@code position}, below {@link #readable}. */
    public int read(ByteBuffer dst, long position) throws IOException {
      return channel.read(dst, position);
    }

    /**
     * The growing file, for zero-copy sends ({@code sendfile}) of bytes below {@link #readable}. It stays open
     * until this reader is closed; the caller must not close it, and closes this reader only once nothing
     * sent from it is still in flight.
     */
    public FileChannel channel() {
      return channel;
    }

    /**
     * Runs {@code wake} (on the downloading thread: hand it to an executor) once more than {@code seen}
     * bytes are readable, or the download verified or failed; at once if that is already so.
     */
    public void whenReadableBeyond(long seen, Runnable wake) {
      synchronized (BlobDownload.this) {
        if (readable() <= seen && !failed && !verified) {
          waiting.add(wake);
          return;
        }
      }
      wake.run();
    }

    @Override
    public void close() {
      boolean nowIdle = false;
      synchronized (BlobDownload.this) {
        if (!closed) {
          closed = true;
          readers--;
          nowIdle = closeIfUnused();
        }
      }
      if (nowIdle) {
        idle.complete(null);
      }
    }
  }
}
