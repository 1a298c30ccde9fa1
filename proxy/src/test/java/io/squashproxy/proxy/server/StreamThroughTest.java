package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import io.squashproxy.proxy.testing.Trickle;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #13 item 1: a cold blob goes to the client as it arrives from upstream. The upstream body is a
 * {@link Trickle} the test opens step by step, so "the client has bytes before upstream sent its last" is
 * asserted without timing: the first bytes are read while upstream is still held back.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StreamThroughTest {
  private static final int SIZE = 1 << 20;
  private static final int FIRST = 256 * 1024;

  @TempDir Path dir;
  private InMemoryRegistry upstream;
  private ProxyHarness harness;
  private LiveProxy proxy;
  private final HttpClient http = HttpClient.newHttpClient();
  private byte[] blob;
  private Digest digest;

  @BeforeEach
  void start() throws Exception {
    upstream = new InMemoryRegistry("up");
    harness = new ProxyHarness(upstream, dir);
    proxy = new LiveProxy(harness, 60);
    blob = new byte[SIZE];
    new Random(13).nextBytes(blob);
    digest = Digest.sha256(blob);
  }

  @AfterEach
  void stop() {
    proxy.close();
    harness.close();
  }

  private Trickle trickle(long allowed) {
    Trickle t = new Trickle(blob, allowed);
    upstream.blobBody(digest, SIZE, () -> t);
    return t;
  }

  private HttpResponse<InputStream> get(String range) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(proxy.url() + "/v2/app/blobs/" + digest));
    if (range != null) {
      b.header("Range", range);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
  }

  private static byte[] read(InputStream in, int n) throws IOException {
    byte[] b = in.readNBytes(n);
    assertEquals(n, b.length, "bytes read");
    return b;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void firstBytesReachTheClientBeforeUpstreamSentTheLastAndTheBlobIsCachedOnce() throws Exception {
    Trickle t = trickle(FIRST);
    HttpResponse<InputStream> r = get(null);
    assertEquals(200, r.statusCode());
    assertEquals(String.valueOf(SIZE), r.headers().firstValue("Content-Length").orElseThrow());
    try (InputStream in = r.body()) {
      byte[] head = read(in, FIRST - 1); // upstream has sent FIRST bytes of SIZE, no more
      assertArrayEquals(Arrays.copyOf(blob, FIRST - 1), head);
      t.allow(SIZE);
      byte[] all = concat(head, in.readAllBytes());
      assertArrayEquals(blob, all, "byte-exact");
    }
    // The store has it (joined if the adoption is still under way): no second upstream GET.
    assertArrayEquals(blob, java.nio.file.Files.readAllBytes(harness.service.blob(harness.route("app"), digest)
        .join().path()));
    assertEquals(1, upstream.blobGets(digest));
    assertArrayEquals(blob, get(null).body().readAllBytes(), "warm, from the cache");
    assertEquals(1, upstream.blobGets(digest));
  }

  @Test
  void concurrentClientsShareOneUpstreamGetAndASlowOneSlowsNobody() throws Exception {
    Trickle t = trickle(FIRST);
    List<InputStream> bodies = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      bodies.add(get(null).body());
    }
    for (int i = 1; i < bodies.size(); i++) {
      assertArrayEquals(Arrays.copyOf(blob, 1000), read(bodies.get(i), 1000));
    }
    t.allow(SIZE);
    // Client 0 reads nothing yet; the others read to the end, and the download finishes meanwhile.
    for (int i = 1; i < bodies.size(); i++) {
      assertArrayEquals(Arrays.copyOfRange(blob, 1000, SIZE), bodies.get(i).readAllBytes(), "client " + i);
    }
    harness.service.blob(harness.route("app"), digest).join();
    assertArrayEquals(blob, bodies.get(0).readAllBytes(), "the slow client, at its own pace");
    assertEquals(1, upstream.blobGets(digest), "one upstream GET for all ten");
    for (InputStream in : bodies) {
      in.close();
    }
  }

  @Test
  void aRangeOfAColdBlobIsAnsweredWithoutWaitingForTheWholeBlob() throws Exception {
    Trickle t = trickle(FIRST);
    HttpResponse<InputStream> r = get("bytes=1000-1999");
    assertEquals(206, r.statusCode());
    assertEquals("bytes 1000-1999/" + SIZE, r.headers().firstValue("Content-Range").orElseThrow());
    assertArrayEquals(Arrays.copyOfRange(blob, 1000, 2000), r.body().readAllBytes());
    t.allow(SIZE);
    assertArrayEquals(blob, get(null).body().readAllBytes());
    assertEquals(1, upstream.blobGets(digest));
  }

  @Test
  void aHeadOfAColdBlobAnswersAsSoonAsUpstreamDoes() throws Exception {
    Trickle t = trickle(0);
    HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(proxy.url() + "/v2/app/blobs/" + digest))
        .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding());
    assertEquals(200, r.statusCode());
    assertEquals(String.valueOf(SIZE), r.headers().firstValue("Content-Length").orElseThrow());
    t.allow(SIZE);
  }

  @Test
  void aBlobWithTheWrongDigestReachesNoClientCompleteAndIsNotCached() throws Exception {
    byte[] wrong = blob.clone();
    wrong[SIZE - 1] ^= 1; // only the very last byte differs: everything before it may have gone out
    upstream.blobBody(digest, SIZE, () -> new ByteArrayInputStream(wrong));
    assertCutShort();
    assertCutShort(); // not cached: the second pull asks upstream again, and is refused the same way
    assertEquals(2, upstream.blobGets(digest));
    assertTrue(harness.store.blob(digest).isEmpty(), "never stored");
  }

  @Test
  void aShortBodyReachesNoClientCompleteAndIsNotCached() throws Exception {
    upstream.blobBody(digest, SIZE, () -> new ByteArrayInputStream(Arrays.copyOf(blob, SIZE / 2)));
    assertCutShort();
    assertTrue(harness.store.blob(digest).isEmpty(), "never stored");
  }

  @Test
  void aBodyThatBreaksOffReachesNoClientComplete() throws Exception {
    Trickle t = trickle(FIRST);
    HttpResponse<InputStream> r = get(null);
    InputStream in = r.body();
    read(in, FIRST - 1);
    t.breakAtLimit();
    assertTrue(FIRST - 1 + readUntilCut(in) < SIZE);
    assertTrue(harness.store.blob(digest).isEmpty(), "never stored");
  }

  private void assertCutShort() throws Exception {
    HttpResponse<InputStream> r = get(null);
    if (r.statusCode() != 200) {
      return; // refused before any byte went out
    }
    long got = readUntilCut(r.body());
    assertTrue(got < SIZE, "the client got " + got + " of " + SIZE + " bytes: never the whole blob");
  }

  private static long readUntilCut(InputStream in) {
    long n = 0;
    byte[] buf = new byte[65536];
    try (in) {
      int r;
      while ((r = in.read(buf)) >= 0) {
        n += r;
      }
    } catch (IOException expected) {
      // the proxy cut the connection
    }
    return n;
  }
}
