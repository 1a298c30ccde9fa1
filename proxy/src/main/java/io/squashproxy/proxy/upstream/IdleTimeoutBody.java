package io.squashproxy.proxy.upstream;

import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A JDK client response body as an {@link InputStream} whose reads fail once no body bytes arrive for
 * {@code idle} ({@link QueuedBody}). The JDK client's own timeout ends when the headers arrive, and its
 * {@code ofInputStream} body blocks forever on a stalled upstream. One list of buffers is requested at a time:
 * the next when the reader took the last one queued, so upstream is read as fast as the reader takes it.
 */
final class IdleTimeoutBody implements HttpResponse.BodySubscriber<InputStream> {
  private final Body body;
  private volatile Flow.Subscription subscription;

  private IdleTimeoutBody(Duration idle) {
    this.body = new Body(idle);
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
    if (body.closed()) {
      s.cancel();
    } else {
      s.request(1);
    }
  }

  @Override
  public void onNext(List<ByteBuffer> item) {
    if (item.isEmpty()) {
      subscription.request(1); // nothing for the reader to take: ask for the next list now
    }
    item.forEach(body::offer);
  }

  @Override
  public void onError(Throwable t) {
    body.fail(t);
  }

  @Override
  public void onComplete() {
    body.end();
  }

  private final class Body extends QueuedBody<ByteBuffer> {
    Body(Duration idle) {
      super(idle);
    }

    @Override
    protected int remaining(ByteBuffer chunk) {
      return chunk.remaining();
    }

    @Override
    protected void copy(ByteBuffer chunk, byte[] b, int off, int n) {
      chunk.get(b, off, n);
    }

    @Override
    protected void taken(int waiting) {
      if (waiting == 0) {
        subscription.request(1); // the reader took the last buffer of the list: the next list
      }
    }

    @Override
    protected void cancel() {
      Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
    }
  }
}
