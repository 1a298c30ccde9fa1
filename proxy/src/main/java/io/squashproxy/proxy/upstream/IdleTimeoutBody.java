package io.squashproxy.proxy.upstream;

import io.squashproxy.core.io.SingleByte;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body as an {@link InputStream} whose reads fail with an {@link HttpTimeoutException} when no
 * body bytes arrive for {@code idle}. The JDK client's own timeout ends when the headers arrive, and its
 * {@code ofInputStream} body blocks forever on a stalled upstream; this one gives the request back, so it can
 * be retried or failed. One list of buffers is requested at a time: the upstream is read as fast as the
 * reader (the cache file) takes it, never faster.
 */
final class IdleTimeoutBody implements HttpResponse.BodySubscriber<InputStream> {
  private static final Object END = new Object();

  private final Duration idle;
  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final Body body = new Body();
  private volatile Flow.Subscription subscription;
  private volatile boolean closed;

  private IdleTimeoutBody(Duration idle) {
    this.idle = idle;
  }

  static HttpResponse.BodyHandler<InputStream> handler(Duration idle) {
    return info -> new IdleTimeoutBody(idle);
  }

  @Override
  public CompletionStage<InputStream> getBody() {
    return CompletableFuture.completedFuture(body);
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    subscription = s;
    if (closed) {
      s.cancel();
    } else {
      s.request(1);
    }
  }

  @Override
  public void onNext(List<ByteBuffer> item) {
    queue.add(item);
  }

  @Override
  public void onError(Throwable t) {
    queue.add(t);
  }

  @Override
  public void onComplete() {
    queue.add(END);
  }

  private final class Body extends InputStream {
    private Iterator<ByteBuffer> buffers = List.<ByteBuffer>of().iterator();
    private ByteBuffer current;
    private boolean ended;

    @Override
    public int read() throws IOException {
      return SingleByte.read(this);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (closed) {
        throw new IOException("body closed");
      }
      if (len == 0) {
        return 0;
      }
      while (current == null || !current.hasRemaining()) {
        if (buffers.hasNext()) {
          current = buffers.next();
          continue;
        }
        if (ended) {
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
          ended = true;
          return -1;
        }
        if (next instanceof Throwable t) {
          ended = true;
          throw t instanceof IOException io ? io : new IOException(t.getMessage(), t);
        }
        @SuppressWarnings("unchecked")
        List<ByteBuffer> list = (List<ByteBuffer>) next;
        buffers = list.iterator();
        subscription.request(1);
      }
      int n = Math.min(len, current.remaining());
      current.get(b, off, n);
      return n;
    }

    @Override
    public int available() {
      return current == null ? 0 : current.remaining();
    }

    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
      queue.clear();
    }
  }
}
