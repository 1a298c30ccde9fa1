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
 *
 * <p>Records are keyed by {@link #FORMAT_VERSION}: a squash made by a proxy whose output format differs
 * (another encoder, another layout) is never reused, so an upgrade never mixes outputs.
 *
 * <p>With a shared {@link ObjectStore} every record is also published there, after the blobs and manifest
 * it names (the caller stores those first): {@code records/manifest/HEX.json}, {@code records/blob/HEX.json}
 * per blob, and last {@code records/source/HASH.json}, the key another replica looks up before squashing.
 * The first record published for a source wins; a replica that squashed the same source at the same time
 * gets the published one back from {@link #put} and serves it (the bytes are the same anyway when the
 * proxies run one version). Lookups this replica cannot answer are asked of the shared store, so a
 * replica with an empty disk knows every squash that was done.
 */
public final class SquashRecords {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SquashRecords.class);

  /**
   * The squash output format. Bump it whenever the same source and options may give other bytes (encoder,
   * layer layout, config rewriting): records of another version are then ignored and images squashed anew.
   */
  public static final int FORMAT_VERSION = 1;

  private final Path dir;
  private final Path tmp;
  private final Map<Digest, SquashRecord> byManifest = new ConcurrentHashMap<>();
  private final Map<Digest, Digest> manifestByBlob = new ConcurrentHashMap<>();
  private final Map<String, Digest> manifestBySource = new ConcurrentHashMap<>();
  private final ObjectStore shared;

  public SquashRecords(Path root, Path tmp) throws IOException {
    this(root, tmp, null);
  }

  /** @param shared null for a single instance */
  public SquashRecords(Path root, Path tmp, ObjectStore shared) throws IOException {
    this.dir = root.resolve("squashed");
    this.tmp = tmp;
    this.shared = shared;
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

  /**
   * Records a squash; returns the record that holds for its source: {@code r}, or with a shared store the
   * one another replica published first.
   */
  public SquashRecord put(SquashRecord r) throws IOException {
    byte[] json = toJson(r);
    SquashRecord winner = r;
    if (shared != null) {
      shared.put(manifestKey(r.manifest()), json);
      for (Digest b : r.blobs()) {
        shared.put(blobKey(b), json);
      }
      String sourceKey = sourceObjectKey(r.upstream(), r.repository(), r.source(), r.options());
      if (!shared.putIfAbsent(sourceKey, json)) {
        Optional<SquashRecord> first = readShared(sourceKey);
        if (first.isPresent() && !first.get().manifest().equals(r.manifest())) {
          LOG.info("{}@{}: another replica published {} first (this one made {}); serving that",
              r.repository(), r.source(), first.get().manifest(), r.manifest());
          winner = first.get();
        }
      }
    }
    AtomicFiles.write(tmp, dir.resolve(r.manifest().hex() + ".json"), json);
    index(r);
    if (winner != r) {
      index(winner);
    }
    return winner;
  }

  private static byte[] toJson(SquashRecord r) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.put("format", r.format());
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
    n.put("keptLayers", r.keptLayers());
    n.put("wastedBytes", r.wastedBytes());
    return JSON.writeValueAsBytes(n);
  }

  public Optional<SquashRecord> byManifest(Digest d) {
    SquashRecord r = byManifest.get(d);
    return r != null ? Optional.of(r) : fromShared(manifestKey(d));
  }

  public Optional<SquashRecord> byBlob(Digest d) {
    Digest m = manifestByBlob.get(d);
    return m != null ? byManifest(m) : fromShared(blobKey(d));
  }

  /** The squash of {@code source} with {@code options} from this upstream repository, if one was made. */
  public Optional<SquashRecord> bySource(String upstream, String repository, Digest source, String options) {
    Digest m = manifestBySource.get(sourceKey(upstream, repository, source, options));
    return m != null ? byManifest(m) : fromShared(sourceObjectKey(upstream, repository, source, options));
  }

  /**
   * What identifies one squash across replicas and versions: upstream, repository, source digest, options
   * and the output format.
   */
  public static String sourceKey(String upstream, String repository, Digest source, String options) {
    return upstream + "/" + repository + "@" + source + " " + options + " format=" + FORMAT_VERSION;
  }

  private static String sourceObjectKey(String upstream, String repository, Digest source, String options) {
    return "records/source/" + Digest.sha256(sourceKey(upstream, repository, source, options)
        .getBytes(java.nio.charset.StandardCharsets.UTF_8)).hex() + ".json";
  }

  private static String manifestKey(Digest d) {
    return "records/manifest/" + d.hex() + ".json";
  }

  private static String blobKey(Digest d) {
    return "records/blob/" + d.hex() + ".json";
  }

  private Optional<SquashRecord> fromShared(String key) {
    if (shared == null) {
      return Optional.empty();
    }
    try {
      Optional<SquashRecord> r = readShared(key);
      r.filter(x -> x.format() == FORMAT_VERSION).ifPresent(this::index);
      return r.filter(x -> x.format() == FORMAT_VERSION);
    } catch (IOException e) {
      LOG.warn("cannot read squash record {} from {}: {}", key, shared.describe(), e.getMessage());
      return Optional.empty();
    }
  }

  private Optional<SquashRecord> readShared(String key) throws IOException {
    Optional<byte[]> bytes = shared.get(key);
    if (bytes.isEmpty()) {
      return Optional.empty();
    }
    try {
      return Optional.of(read(JSON.readTree(bytes.get())));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new IOException("unreadable record: " + e.getMessage(), e);
    }
  }

  public List<SquashRecord> all() {
    return List.copyOf(byManifest.values());
  }

  private void index(SquashRecord r) {
    byManifest.put(r.manifest(), r);
    r.blobs().forEach(b -> manifestByBlob.put(b, r.manifest()));
    if (r.format() == FORMAT_VERSION) {
      manifestBySource.put(sourceKey(r.upstream(), r.repository(), r.source(), r.options()), r.manifest());
    }
  }

  private static SquashRecord read(JsonNode n) {
    List<Digest> blobs = new ArrayList<>();
    n.path("blobs").forEach(b -> blobs.add(Digest.parse(b.asText())));
    return new SquashRecord(n.path("format").asInt(1), Digest.parse(n.get("manifest").asText()),
        n.get("upstream").asText(),
        n.get("repository").asText(), Digest.parse(n.get("source").asText()), n.get("options").asText(),
        n.path("layersBefore").asInt(), n.path("layersAfter").asInt(), n.path("bytesBefore").asLong(),
        n.path("bytesAfter").asLong(), blobs, n.path("keptLayers").asInt(-1), n.path("wastedBytes").asLong(-1));
  }

  /**
   * @param options the rule's squash options in the text form {@code SquashPolicy} parses back
   * @param blobs the blobs the squash made (config and squashed layer); none when the image was left as it is
   *     ({@code manifest} is then {@code source})
   * @param keptLayers leading layers kept as they are (all of them for an image left as it is); -1 in records
   *     older than this field
   * @param wastedBytes uncompressed bytes the squash found wasted (hidden by upper layers); -1 when unknown
   */
  public record SquashRecord(int format, Digest manifest, String upstream, String repository, Digest source,
      String options, int layersBefore, int layersAfter, long bytesBefore, long bytesAfter,
      List<Digest> blobs, int keptLayers, long wastedBytes) {

    /** A record of a squash this proxy version made. */
    public SquashRecord(Digest manifest, String upstream, String repository, Digest source, String options,
        int layersBefore, int layersAfter, long bytesBefore, long bytesAfter, List<Digest> blobs, int keptLayers,
        long wastedBytes) {
      this(FORMAT_VERSION, manifest, upstream, repository, source, options, layersBefore, layersAfter,
          bytesBefore, bytesAfter, blobs, keptLayers, wastedBytes);
    }

    /** A record without the layer figures (index rewrites, tests). */
    public SquashRecord(Digest manifest, String upstream, String repository, Digest source, String options,
        int layersBefore, int layersAfter, long bytesBefore, long bytesAfter, List<Digest> blobs) {
      this(manifest, upstream, repository, source, options, layersBefore, layersAfter, bytesBefore, bytesAfter,
          blobs, -1, -1);
    }

    /** Whether the rule left the image as it is (nothing wasted): the record's manifest is the source. */
    public boolean unchanged() {
      return manifest.equals(source);
    }
  }
}
