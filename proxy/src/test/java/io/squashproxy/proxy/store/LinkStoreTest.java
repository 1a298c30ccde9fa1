package io.squashproxy.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.proxy.store.LinkStore.Link;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The on-disk log of repository links: read back after a restart, a torn line skipped, bounded. */
class LinkStoreTest {
  @TempDir
  Path dir;

  private static Link link(int i) {
    return new Link("up", "team/app", Digest.sha256(("blob " + i).getBytes(StandardCharsets.UTF_8)).toString());
  }

  @Test
  void linksComeBackAfterARestartWithoutATornLineAndWithinTheBound() throws Exception {
    LinkStore store = new LinkStore(dir, null, 3);
    store.open();
    store.add(List.of(link(1), link(2)));
    store.add(List.of(link(1), link(3), new Link("up", "has space", link(4).digest())));
    // A crash in the middle of an append.
    Files.writeString(dir.resolve("links/links.log"), "up team/app sha256:12", StandardOpenOption.APPEND);

    assertEquals(List.of(link(2), link(1), link(3)), new LinkStore(dir, null, 3).open(),
        "most recent last, duplicates once, the torn line and the unstorable link left out");
    assertEquals(3, Files.readAllLines(dir.resolve("links/links.log")).size(), "rewritten without them");

    LinkStore small = new LinkStore(dir, null, 2);
    assertEquals(List.of(link(1), link(3)), small.open(), "the oldest dropped past the bound");
  }
}
