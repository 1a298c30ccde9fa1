package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.squashproxy.proxy.admin.StatusPage;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.SquashRecords;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Background squashes by state, as the metrics and the status page show them. */
class BackgroundSquashesTest {
  @TempDir Path dir;

  @Test
  void onlySquashesNoClientWaitsForCountFromQueuedThroughRunningToFinished() throws IOException {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    BackgroundSquashes bg = new BackgroundSquashes(meters);
    BackgroundSquashes.Task waitedFor = bg.submitted("library/a@sha256:1");
    waitedFor.running();
    waitedFor.finished(null);
    assertEquals(0, bg.finished(), "a client waited for it");

    BackgroundSquashes.Task queued = bg.submitted("library/b@sha256:2");
    queued.background();
    BackgroundSquashes.Task running = bg.submitted("library/c@sha256:3");
    running.running();
    running.background();
    BackgroundSquashes.Task failed = bg.submitted("library/d@sha256:4");
    failed.background();
    failed.running();
    failed.finished(new IOException("disk full"));
    assertEquals(1, bg.queued());
    assertEquals(1, bg.running());
    assertEquals(1, bg.finished());
    assertEquals(1.0, meters.get("squash_proxy_background_squashes").tag("state", "queued").gauge().value());
    assertEquals(1.0, meters.get("squash_proxy_background_squashes").tag("state", "running").gauge().value());
    assertEquals(1.0, meters.get("squash_proxy_background_squashes_finished").tag("outcome", "failed")
        .functionCounter().count());

    ContentStore store = new ContentStore(dir, 1L << 30, Runnable::run);
    store.open();
    SquashRecords records = new SquashRecords(dir, store.tmpDir());
    records.open();
    io.squashproxy.proxy.store.TagStore tags = new io.squashproxy.proxy.store.TagStore(dir, store.tmpDir(),
        java.time.Duration.ofMinutes(5), com.github.benmanes.caffeine.cache.Ticker.systemTicker());
    tags.open();
    String page = new StatusPage(records, tags, store, new ProxyStats(),
        new RefusedImages(com.github.benmanes.caffeine.cache.Ticker.systemTicker()), bg).render();
    assertTrue(page.contains("1 queued, 1 running, 1 finished."), page);
    assertTrue(page.contains("library/b@sha256:2</td><td>queued"), page);
    assertTrue(page.contains("library/c@sha256:3</td><td>running"), page);
    assertTrue(page.contains("library/d@sha256:4</td><td>finished"), page);
    assertTrue(page.contains("failed: disk full"), page);

    queued.running();
    queued.finished(null);
    running.finished(null);
    assertEquals(0, bg.queued());
    assertEquals(0, bg.running());
    assertEquals(3, bg.finished());
    assertEquals(2.0, meters.get("squash_proxy_background_squashes_finished").tag("outcome", "ok")
        .functionCounter().count());
  }
}
