package io.squashproxy.proxy.upstream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.head;
import static com.github.tomakehurst.wiremock.client.WireMock.headRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.service.ImageService;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Rules;
import io.squashproxy.proxy.service.ServedManifest;
import io.squashproxy.proxy.service.SquashRule;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.TagStore;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Fifty pulls waiting out a 429's {@code Retry-After} hold no io thread: with an io pool of four, cached
 * content is still answered while they wait, no io thread is parked in the retrier, and the fifty pulls
 * complete once their scheduled retries run against a recovered upstream. The retrier's scheduler is the
 * test's own list, so nothing here waits for the 30 seconds upstream asks for.
 */
class RetryAfterSchedulingTest extends WireMockRegistrySupport {
  static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
  static final int IO_THREADS = 4;
  static final int WAITING_PULLS = 50;
  static final TestImage CACHED = TestImage.docker().layer(layer().file("etc/cached", "cached")).build();
  static final TestImage SLOW = TestImage.docker().layer(layer().file("etc/slow", "slow")).build();

  final AtomicInteger ioThreadNumber = new AtomicInteger();
  final ExecutorService io = Executors.newFixedThreadPool(IO_THREADS,
      r -> new Thread(r, "test-io-" + ioThreadNumber.incrementAndGet()));
  final List<Runnable> scheduled = new ArrayList<>();
  final List<Duration> scheduledWaits = new ArrayList<>();
  final CountDownLatch allScheduled = new CountDownLatch(WAITING_PULLS);
  /** A sleeping retrier would block here (as long as upstream asks) instead of scheduling. */
  final CountDownLatch neverReleased = new CountDownLatch(1);
  final AtomicInteger sleeps = new AtomicInteger();
  Path cacheDir;
  ImageService service;
  Upstreams upstreams;

  @BeforeEach
  void assemble() throws Exception {
    anonymousRegistry();
    serve("app", "1.0", CACHED, null);
    cacheDir = Files.createTempDirectory("retry-after-cache");
    ContentStore store = new ContentStore(cacheDir, 1L << 30, Runnable::run);
    store.open();
    TagStore tags = new TagStore(cacheDir, store.tmpDir(), Duration.ofMinutes(5), Ticker.systemTicker());
    tags.open();
    SquashRecords records = new SquashRecords(cacheDir, store.tmpDir());
    records.open();
    RetryPolicy policy = new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(1), 0, Duration.ofSeconds(60));
    Retrier retrier = new Retrier(policy, d -> {
      sleeps.incrementAndGet();
      neverReleased.await();
    }, (wait, task) -> {
      synchronized (scheduled) {
        scheduled.add(task);
        scheduledWaits.add(wait);
      }
      allScheduled.countDown();
    }, Clock.systemUTC(), () -> 0, null);
    UpstreamSettings settings = new UpstreamSettings("test", URI.create(base()), null, false, null, null, null,
        Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(5), policy);
    Rules off = new Rules(List.of(new SquashRule("**", SquashRule.Mode.OFF, 0, null, Compression.GZIP,
        List.of())));
    upstreams = new Upstreams(List.of(settings), off, s -> track(new JibUpstream(s, retrier)));
    service = new ImageService(upstreams, store, tags, records, io, Executors.newSingleThreadExecutor(),
        Long.MAX_VALUE, new ProxyStats());
  }

  @AfterEach
  void cleanUp() throws Exception {
    neverReleased.countDown();
    io.shutdownNow();
    try (Stream<Path> s = Files.walk(cacheDir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  @Test
  void pullsWaitingOutA429HoldNoIoThreadAndCachedContentIsStillServed() throws Exception {
    Route app = upstreams.resolve("app", null);
    Route slow = upstreams.resolve("slow", null);
    // Warm the cache: the manifest by digest and its layer.
    assertEquals(CACHED.manifestDigest(), service.manifest(app, CACHED.manifestDigest().toString())
        .get(30, TimeUnit.SECONDS).digest());
    service.blob(app, CACHED.layerDigests().get(0)).get(30, TimeUnit.SECONDS);

    // Every tag of "slow" answers 429 with Retry-After: 30 until the scenario says "recovered".
    registry.stubFor(head(urlPathMatching("/v2/slow/manifests/t[0-9]+")).inScenario("limit")
        .whenScenarioStateIs(STARTED).willReturn(aResponse().withStatus(429).withHeader("Retry-After", "30")));
    serve("slow", null, SLOW, "recovered");
    List<CompletableFuture<ServedManifest>> waiting = new ArrayList<>();
    for (int i = 0; i < WAITING_PULLS; i++) {
      waiting.add(service.manifest(slow, "t" + i));
    }
    assertTrue(allScheduled.await(30, TimeUnit.SECONDS), "every pull scheduled its retry; sleeps: " + sleeps);
    assertTrue(scheduledWaits.stream().allMatch(Duration.ofSeconds(30)::equals), scheduledWaits.toString());

    // Cached content is read on the same io pool: it is answered while the fifty wait.
    ServedManifest cached = service.manifest(app, CACHED.manifestDigest().toString()).get(30, TimeUnit.SECONDS);
    assertArrayEquals(CACHED.manifest(), cached.bytes());
    assertEquals(CACHED.layerDigests().get(0),
        service.blob(app, CACHED.layerDigests().get(0)).get(30, TimeUnit.SECONDS).digest());
    assertEquals(0, sleeps.get(), "no io thread slept");
    for (var e : Thread.getAllStackTraces().entrySet()) {
      if (e.getKey().getName().startsWith("test-io-")) {
        assertTrue(Arrays.stream(e.getValue()).noneMatch(f -> f.getClassName().startsWith(Retrier.class.getName())),
            e.getKey().getName() + " is parked in the retrier: " + Arrays.toString(e.getValue()));
      }
    }
    assertTrue(waiting.stream().noneMatch(CompletableFuture::isDone), "the fifty still wait");

    // Upstream recovers; the scheduled retries run and every pull gets its manifest.
    registry.setScenarioState("limit", "recovered");
    List<Runnable> due;
    synchronized (scheduled) {
      due = List.copyOf(scheduled);
    }
    due.forEach(Runnable::run);
    for (CompletableFuture<ServedManifest> f : waiting) {
      assertEquals(SLOW.manifestDigest(), f.get(30, TimeUnit.SECONDS).digest());
    }
    registry.verify(2 * WAITING_PULLS, headRequestedFor(urlPathMatching("/v2/slow/manifests/t[0-9]+")));
  }

  /** {@code repository} serves {@code image} (its tags {@code tag}, or any {@code t<N>}, in {@code state}). */
  void serve(String repository, String tag, TestImage image, String state) {
    var headStub = head(tag != null ? urlEqualTo(manifestPath(repository, tag))
        : urlPathMatching("/v2/" + repository + "/manifests/t[0-9]+"));
    if (state != null) {
      headStub = headStub.inScenario("limit").whenScenarioStateIs(state);
    }
    registry.stubFor(headStub.willReturn(aResponse().withStatus(200)
        .withHeader("Docker-Content-Digest", image.manifestDigest().toString())
        .withHeader("Content-Type", DOCKER_MANIFEST)
        .withHeader("Content-Length", String.valueOf(image.manifest().length))));
    registry.stubFor(get(urlEqualTo(manifestPath(repository, image.manifestDigest().toString())))
        .willReturn(aResponse().withStatus(200).withHeader("Content-Type", DOCKER_MANIFEST)
            .withBody(image.manifest())));
    registry.stubFor(get(urlEqualTo(blobPath(repository, image.configDigest())))
        .willReturn(aResponse().withStatus(200).withBody(image.config())));
    for (int i = 0; i < image.layerDigests().size(); i++) {
      Digest d = image.layerDigests().get(i);
      registry.stubFor(get(urlEqualTo(blobPath(repository, d)))
          .willReturn(aResponse().withStatus(200).withBody(image.layerBlobs().get(i))));
    }
  }
}
