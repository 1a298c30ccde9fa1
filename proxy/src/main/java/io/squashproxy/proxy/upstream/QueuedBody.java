package io.squashproxy.proxy.upstream;

import io.squashproxy.core.io.SingleByte;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body read by a blocking caller from chunks an HTTP client's own thread queues ({@link #offer},
 * then {@link #end} or {@link #fail}). A read that waits {@code idle} for the next chunk fails with an
 * {@link HttpTimeoutException} and closes the body: a stalled upstream gives the request back, so it can be
 * resumed, retried or failed. The client asks for more in {@link #taken}, so the queue stays as short as the
 * reader keeps it.
 *
 * @param <T> a chunk of the client's (a buffer it may need to release)
 */
abstract class QueuedBody<T> extends InputStream {
  private static final Object END = new Object();

  private final Duration idle;
  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private volatile boolean closed;
  private T current;
  private boolean sawEnd;

  QueuedBody(Duration idle) {
    this.idle = idle;
  }

  /** Bytes of {@code chunk} not read yet. */
  protected abstract int remaining(T chunk);

  /** Copies {@code n} bytes of {@code chunk} out and consumes them. */
  protected abstract void copy(T chunk, byte[] b, int off, int n);

  /** A chunk was taken from the queue; {@code waiting} more are queued. Ask the client for more here. */
  protected void taken(int waiting) {}

  /** A chunk is done with (read, or dropped on close). */
  protected void release(T chunk) {}

  /** The body was closed: stop the transfer if it still runs. */
  protected abstract void cancel();

  /** On the client's thread: a chunk arrived. Dropped (released) once the reader closed the body. */
  final void offer(T chunk) {
    queue.add(chunk);
    if (closed) {
      drain();
    }
  }

  /** On the client's thread: the body ended whole. */
  final void end() {
    queue.add(END);
  }

  /** On the client's thread: the transfer broke; the reader gets this error after what arrived before it. */
  final void fail(Throwable t) {
    queue.add(asIOException(t));
  }

  /** {@code t} as the IOException blocking callers expect: itself, or wrapped with its message. */
  static IOException asIOException(Throwable t) {
    if (t instanceof IOException io) {
      return io;
    }
    return new IOException(t.getMessage() != null ? t.getMessage() : t.toString(), t);
  }

  final boolean closed() {
    return closed;
  }

  final int waiting() {
    return queue.size();
  }

  @Override
  public final int read() throws IOException {
    return SingleByte.read(this);
  }

  @Override
  public final int read(byte[] b, int off, int len) throws IOException {
    if (closed) {
      throw new IOException("body closed");
    }
    if (len == 0) {
      return 0;
    }
    while (current == null || remaining(current) == 0) {
      if (current != null) {
        release(current);
        current = null;
      }
      if (sawEnd) {
        return -1;
      }
      Object next;
      try {
        next = queue.poll(idle.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while reading an upstream body");
      }
      if (next == null) {
        close();
        throw new HttpTimeoutException("upstream sent no body bytes for " + idle.toMillis() + " ms");
      }
      if (next == END) {
        sawEnd = true;
        return -1;
      }
      if (next instanceof IOException e) {
        sawEnd = true;
        throw e;
      }
      @SuppressWarnings("unchecked")
      T chunk = (T) next;
      current = chunk;
      taken(queue.size());
    }
    int n = Math.min(len, remaining(current));
    copy(current, b, off, n);
    return n;
  }

  @Override
  public final int available() {
    return current == null ? 0 : remaining(current);
  }

  @Override
  public final void close() {
    if (closed) {
      return;
    }
    closed = true;
    cancel();
    if (current != null) {
      release(current);
      current = null;
    }
    drain();
  }

  @SuppressWarnings("unchecked")
  private void drain() {
    for (Object o = queue.poll(); o != null; o = queue.poll()) {
      if (o != END && !(o instanceof IOException)) {
        release((T) o);
      }
    }
  }
}
