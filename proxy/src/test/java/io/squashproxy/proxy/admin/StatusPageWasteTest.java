package io.squashproxy.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.RefusedImages;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.TagStore;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The status page tells kept from squashed layers and shows the waste found, per image and in total. */
class StatusPageWasteTest {
  @TempDir
  Path dir;

  @Test
  void rowsShowKeptAndSquashedLayersAndWaste() throws Exception {
    ContentStore store = new ContentStore(dir, 1L << 30, Runnable::run);
    store.open();
    SquashRecords records = new SquashRecords(dir, store.tmpDir());
    records.open();
    Digest source = Digest.sha256("app".getBytes());
    Digest squashed = Digest.sha256("squashed".getBytes());
    records.put(new SquashRecord(squashed, "up", "team/app", source, "auto", 5, 3, 40 << 20, 8 << 20,
        List.of(Digest.sha256("layer".getBytes())), 2, 32 << 20));
    Digest whole = Digest.sha256("whole".getBytes());
    records.put(new SquashRecord(whole, "up", "team/lean", whole, "auto", 2, 2, 4 << 20, 4 << 20, List.of(), 2, 0));
    TagStore tags = new TagStore(dir, store.tmpDir(), java.time.Duration.ofMinutes(5),
        com.github.benmanes.caffeine.cache.Ticker.systemTicker());
    tags.open();
    String html = new StatusPage(records, tags, store, new ProxyStats(),
        new RefusedImages(com.github.benmanes.caffeine.cache.Ticker.systemTicker())).render();
    assertTrue(html.contains("1 squashed images cached, 1 kept as they are"), html);
    assertTrue(html.contains("<td>5 &rarr; 3</td><td>2</td><td>3 &rarr; 1</td><td>32.0 MiB</td>"), html);
    assertTrue(html.contains("<td>2 &rarr; 2</td><td>all</td><td>none</td><td>0 B</td>"), html);
    assertTrue(html.contains("up/team/app@sha256:"), "rows name the image: " + html);
    assertTrue(html.contains("<th>Kept</th><th>Squashed</th><th>Waste found</th>"), html);
  }
}
