package io.squashproxy.core.squash;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads a stream on its own thread, a few buffers ahead of the reader, so that the work inside that stream
 * (reading the blob, hashing it, decompressing) runs in parallel with the reader's (hashing the tar,
 * spooling it, parsing headers). Memory is bounded by {@code depth + 2} buffers. The source's exceptions come out
 * of {@link #read} in order, after the bytes read before them. Closing stops the thread and closes the source.
 */
final class ReadAheadInputStream extends InputStream {
  private static final AtomicInteger THREADS = new AtomicInteger();

  private record Chunk(byte[] bytes, int length, Throwable error) {}

  private static final Chunk END = new Chunk(null, -1, null);

  private final InputStream source;
  private final BlockingQueue<Chunk> queue;
  private final Thread thread;
  private final int bufferSize;
  private volatile boolean closed;
  private Chunk current;
  private int pos;
  private boolean done;

  ReadAheadInputStream(InputStream source, int bufferSize, int depth) {
    this.source = source;
    this.bufferSize = bufferSize;
    this.queue = new ArrayBlockingQueue<>(depth);
    this.thread = new Thread(this::pump, "squash-read-ahead-" + THREADS.incrementAndGet());
    thread.setDaemon(true);
    thread.start();
  }

  private void pump() {
    try (source) {
      while (!closed) {
        byte[] buf = new byte[bufferSize];
        int n = 0;
        try {
          for (int r; n < buf.length && (r = source.read(buf, n, buf.length - n)) >= 0; ) {
            n += r;
          }
        } finally {
          // The bytes before a failure are handed over before it
          if (n > 0) {
            put(new Chunk(buf, n, null));
          }
        }
        if (n < buf.length) {
          put(END);
          return;
        }
      }
    } catch (Throwable e) {
      try {
        put(new Chunk(null, -1, e));
      } catch (InterruptedException ignored) {
        // closed while handing over the failure: nobody reads it
      }
    }
  }

  private void put(Chunk c) throws InterruptedException {
    queue.put(c);
  }

  private boolean fill() throws IOException {
    if (done) {
      return false;
    }
    if (current != null && pos < current.length) {
      return true;
    }
    Chunk c;
    try {
      c = queue.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while reading ahead");
    }
    if (c.error != null) {
      done = true;
      if (c.error instanceof IOException io) {
        throw io;
      }
      if (c.error instanceof RuntimeException re) {
        throw re;
      }
      if (c.error instanceof Error err) {
        throw err;
      }
      throw new IOException(c.error);
    }
    if (c == END) {
      done = true;
      return false;
    }
    current = c;
    pos = 0;
    return true;
  }

  @Override
  public int read() throws IOException {
    if (!fill()) {
      return -1;
    }
    return current.bytes[pos++] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    if (!fill()) {
      return -1;
    }
    int n = Math.min(len, current.length - pos);
    System.arraycopy(current.bytes, pos, b, off, n);
    pos += n;
    return n;
  }

  @Override
  public int available() {
    return current == null ? 0 : current.length - pos;
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    // The pump closes the source itself on its way out (never two threads in the source at once). Waiting
    // for it is bounded: the interrupt ends a wait on the queue, and a read of the source ends by itself.
    thread.interrupt();
    queue.clear();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(30));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  boolean readerAlive() {
    return thread.isAlive();
  }

  @Override
  public String toString() {
    return "ReadAheadInputStream" + Arrays.asList(source, thread.getName());
  }
}
