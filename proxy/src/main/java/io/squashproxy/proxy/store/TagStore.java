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
import java.util.stream.Stream;

/**
 * Tag -> upstream digest, with a TTL after which the tag is revalidated upstream (by HEAD). Kept on disk so a
 * restarted proxy can still serve a cached tag when upstream is down; after a restart every tag counts as
 * stale until revalidated. Time comes from an injected {@link Ticker}, so tests never sleep.
 */
public final class TagStore {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final Path tmp;
  private final Duration ttl;
  private final Ticker ticker;
  private final Map<String, TagRecord> tags = new ConcurrentHashMap<>();

  public TagStore(Path root, Path tmp, Duration ttl, Ticker ticker) throws IOException {
    this.dir = root.resolve("tags");
    this.tmp = tmp;
    this.ttl = ttl;
    this.ticker = ticker;
    Files.createDirectories(dir);
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

  public Optional<TagRecord> get(String key) {
    return Optional.ofNullable(tags.get(key));
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
      AtomicFiles.write(tmp, dir.resolve(fileName(key)), JSON.writeValueAsBytes(node));
    }
    return r;
  }

  public int size() {
    return tags.size();
  }

  private static String fileName(String key) {
    return Digest.sha256(key.getBytes(java.nio.charset.StandardCharsets.UTF_8)).hex() + ".json";
  }

  /** @param validatedAt ticker time of the last upstream confirmation; {@code Long.MIN_VALUE} if never */
  public record TagRecord(Digest digest, String mediaType, long validatedAt) {}
}
