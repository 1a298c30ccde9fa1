package io.squashproxy.proxy.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tag -> upstream digest, with a TTL after which the tag is revalidated upstream (by HEAD). Kept on disk so a
 * restarted proxy can still serve a cached tag when upstream is down; after a restart every tag counts as
 * stale until revalidated. Time comes from an injected {@link Ticker}, so tests never sleep.
 *
 * <p>With a shared {@link ObjectStore}, every validation is also written there ({@code tags/HASH.json} with
 * the wall-clock time it was validated), and a tag this replica does not know, or holds stale, is read
 * from there: a tag one replica validated is fresh for all until its TTL runs out, counted from that
 * validation. The store is asked only off the event loop ({@link #shared()} tells the service to hop).
 */
public final class TagStore {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Logger LOG = LoggerFactory.getLogger(TagStore.class);

  private final Path dir;
  private final Path tmp;
  private final Duration ttl;
  private final Ticker ticker;
  private final Map<String, TagRecord> tags = new ConcurrentHashMap<>();
  private final ObjectStore shared;
  private final LongSupplier wallMillis;

  public TagStore(Path root, Path tmp, Duration ttl, Ticker ticker) throws IOException {
    this(root, tmp, ttl, ticker, null, System::currentTimeMillis);
  }

  /**
   * @param shared null for a single instance
   * @param wallMillis wall-clock time, which replicas share (the ticker is per process)
   */
  public TagStore(Path root, Path tmp, Duration ttl, Ticker ticker, ObjectStore shared, LongSupplier wallMillis)
      throws IOException {
    this.dir = root.resolve("tags");
    this.tmp = tmp;
    this.ttl = ttl;
    this.ticker = ticker;
    this.shared = shared;
    this.wallMillis = wallMillis;
    Files.createDirectories(dir);
  }

  /** Whether {@link #get} may ask a shared store (and so must run off the event loop). */
  public boolean shared() {
    return shared != null;
  }

  public void open() throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.filter(Files::isRegularFile).toList()) {
        try {
          JsonNode n = JSON.readTree(p.toFile());
          String key = n.path("key").asText();
          tags.put(key, new TagRecord(Digest.parse(n.path("digest").asText()), n.path("mediaType").asText(),
              Long.MIN_VALUE));
        } catch (IOException | IllegalArgumentException e) {
          Files.deleteIfExists(p); // a torn or foreign file: forget the tag, it is refetched on demand
        }
      }
    }
  }

  public static String key(String upstream, String repository, String tag) {
    return upstream + "/" + repository + ":" + tag;
  }

  /** What this replica holds in memory, never reading the shared store: safe on an event loop. */
  public Optional<TagRecord> local(String key) {
    return Optional.ofNullable(tags.get(key));
  }

  public Optional<TagRecord> get(String key) {
    TagRecord known = tags.get(key);
    if (shared == null || (known != null && isFresh(known))) {
      return Optional.ofNullable(known);
    }
    try {
      Optional<byte[]> bytes = shared.get(sharedKey(key));
      if (bytes.isEmpty()) {
        return Optional.ofNullable(known);
      }
      JsonNode n = JSON.readTree(bytes.get());
      long ageMillis = Math.max(0, wallMillis.getAsLong() - n.path("validatedAtMillis").asLong(0));
      // Re-expressed on this process's ticker, so isFresh applies the same TTL to both.
      long validatedAt = ageMillis < ttl.toMillis() ? ticker.read() - ageMillis * 1_000_000L : Long.MIN_VALUE;
      TagRecord r = new TagRecord(Digest.parse(n.path("digest").asText()), n.path("mediaType").asText(),
          validatedAt);
      if (known == null || !known.digest().equals(r.digest()) || validatedAt != Long.MIN_VALUE) {
        tags.put(key, r);
        return Optional.of(r);
      }
      return Optional.of(known);
    } catch (IOException | IllegalArgumentException e) {
      LOG.warn("tag {}: cannot read its shared mapping ({}); using what this replica knows", key, e.getMessage());
      return Optional.ofNullable(known);
    }
  }

  public boolean isFresh(TagRecord r) {
    return r.validatedAt() != Long.MIN_VALUE && ticker.read() - r.validatedAt() < ttl.toNanos();
  }

  public TagRecord put(String key, Digest digest, String mediaType) throws IOException {
    TagRecord r = new TagRecord(digest, mediaType, ticker.read());
    TagRecord previous = tags.put(key, r);
    if (previous == null || !previous.digest().equals(digest)) {
      var node = JSON.createObjectNode();
      node.put("key", key);
      node.put("digest", digest.toString());
      node.put("mediaType", mediaType);
      // Not flushed: open() discards a torn file, and a lost tag costs one HEAD (see writeUnsynced).
      AtomicFiles.writeUnsynced(tmp, dir.resolve(fileName(key)), JSON.writeValueAsBytes(node));
    }
    if (shared != null) {
      var node = JSON.createObjectNode();
      node.put("key", key);
      node.put("digest", digest.toString());
      node.put("mediaType", mediaType);
      node.put("validatedAtMillis", wallMillis.getAsLong());
      shared.put(sharedKey(key), JSON.writeValueAsBytes(node));
    }
    return r;
  }

  /** Every tag this replica holds in memory, by key ({@link #key}): for the status page. */
  public Map<String, TagRecord> all() {
    return Map.copyOf(tags);
  }

  public int size() {
    return tags.size();
  }

  private static String sharedKey(String key) {
    return "tags/" + fileName(key);
  }

  private static String fileName(String key) {
    return Digest.sha256(key.getBytes(java.nio.charset.StandardCharsets.UTF_8)).hex() + ".json";
  }

  /** @param validatedAt ticker time of the last upstream confirmation; {@code Long.MIN_VALUE} if never */
  public record TagRecord(Digest digest, String mediaType, long validatedAt) {}
}
