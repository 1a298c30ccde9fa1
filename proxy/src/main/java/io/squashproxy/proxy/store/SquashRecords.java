package io.squashproxy.proxy.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * What each squashed manifest was made from (upstream, repository, source digest, options) and which blobs
 * it produced, so a squashed manifest or blob that was evicted can be made again, byte-identical, from
 * upstream. Also feeds the status page.
 */
public final class SquashRecords {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final Path tmp;
  private final Map<Digest, SquashRecord> byManifest = new ConcurrentHashMap<>();
  private final Map<Digest, Digest> manifestByBlob = new ConcurrentHashMap<>();
  private final Map<String, Digest> manifestBySource = new ConcurrentHashMap<>();

  public SquashRecords(Path root, Path tmp) throws IOException {
    this.dir = root.resolve("squashed");
    this.tmp = tmp;
    Files.createDirectories(dir);
  }

  public void open() throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : files.filter(Files::isRegularFile).toList()) {
        try {
          index(read(JSON.readTree(p.toFile())));
        } catch (IOException | IllegalArgumentException | NullPointerException e) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  public void put(SquashRecord r) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("manifest", r.manifest().toString());
    n.put("upstream", r.upstream());
    n.put("repository", r.repository());
    n.put("source", r.source().toString());
    n.put("options", r.options());
    n.put("layersBefore", r.layersBefore());
    n.put("layersAfter", r.layersAfter());
    n.put("bytesBefore", r.bytesBefore());
    n.put("bytesAfter", r.bytesAfter());
    ArrayNode blobs = n.putArray("blobs");
    r.blobs().forEach(b -> blobs.add(b.toString()));
    AtomicFiles.write(tmp, dir.resolve(r.manifest().hex() + ".json"), JSON.writeValueAsBytes(n));
    index(r);
  }

  public Optional<SquashRecord> byManifest(Digest d) {
    return Optional.ofNullable(byManifest.get(d));
  }

  public Optional<SquashRecord> byBlob(Digest d) {
    Digest m = manifestByBlob.get(d);
    return m == null ? Optional.empty() : byManifest(m);
  }

  /** The squash of {@code source} with {@code options} from this upstream repository, if one was made. */
  public Optional<SquashRecord> bySource(String upstream, String repository, Digest source, String options) {
    Digest m = manifestBySource.get(sourceKey(upstream, repository, source, options));
    return m == null ? Optional.empty() : byManifest(m);
  }

  private static String sourceKey(String upstream, String repository, Digest source, String options) {
    return upstream + "/" + repository + "@" + source + " " + options;
  }

  public List<SquashRecord> all() {
    return List.copyOf(byManifest.values());
  }

  private void index(SquashRecord r) {
    byManifest.put(r.manifest(), r);
    r.blobs().forEach(b -> manifestByBlob.put(b, r.manifest()));
    manifestBySource.put(sourceKey(r.upstream(), r.repository(), r.source(), r.options()), r.manifest());
  }

  private static SquashRecord read(JsonNode n) {
    List<Digest> blobs = new ArrayList<>();
    n.path("blobs").forEach(b -> blobs.add(Digest.parse(b.asText())));
    return new SquashRecord(Digest.parse(n.get("manifest").asText()), n.get("upstream").asText(),
        n.get("repository").asText(), Digest.parse(n.get("source").asText()), n.get("options").asText(),
        n.path("layersBefore").asInt(), n.path("layersAfter").asInt(), n.path("bytesBefore").asLong(),
        n.path("bytesAfter").asLong(), blobs);
  }

  /**
   * @param options the rule's squash options in the text form {@code SquashPolicy} parses back
   * @param blobs the blobs the squash made (config and squashed layer)
   */
  public record SquashRecord(Digest manifest, String upstream, String repository, Digest source,
      String options, int layersBefore, int layersAfter, long bytesBefore, long bytesAfter,
      List<Digest> blobs) {}
}
