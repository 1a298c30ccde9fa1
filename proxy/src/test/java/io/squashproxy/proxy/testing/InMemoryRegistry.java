package io.squashproxy.proxy.testing;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream registry in memory, for fast tests of everything above the {@link Upstream} interface. It
 * counts requests by kind and can be switched off to play an unreachable upstream.
 */
public final class InMemoryRegistry implements Upstream {
  private final String name;
  private final Map<String, Map<String, Digest>> tags = new ConcurrentHashMap<>();
  private final Map<Digest, byte[]> manifests = new ConcurrentHashMap<>();
  private final Map<Digest, String> mediaTypes = new ConcurrentHashMap<>();
  private final Map<Digest, byte[]> blobs = new ConcurrentHashMap<>();
  public final AtomicInteger manifestGets = new AtomicInteger();
  public final AtomicInteger manifestHeads = new AtomicInteger();
  public final Map<Digest, AtomicInteger> blobGets = new ConcurrentHashMap<>();
  private final Map<Digest, BodyOverride> bodies = new ConcurrentHashMap<>();
  private volatile boolean down;

  /** What upstream sends for a blob instead of its bytes: a trickle, a wrong or a short body. */
  private record BodyOverride(long announcedSize, java.util.function.Supplier<java.io.InputStream> body) {}

  public InMemoryRegistry(String name) {
    this.name = name;
  }

  /** Stores an image (its blobs and manifest) and tags it; returns the manifest digest. */
  public Digest push(String repository, String tag, TestImage image) {
    blobs.put(image.configDigest(), image.config());
    for (int i = 0; i < image.layerBlobs().size(); i++) {
      blobs.put(image.layerDigests().get(i), image.layerBlobs().get(i));
    }
    String mt = image.manifestJson().path("mediaType").asText(
        "application/vnd.oci.image.manifest.v1+json");
    return pushManifest(repository, tag, image.manifest(), mt);
  }

  public Digest pushManifest(String repository, String tag, byte[] manifest, String mediaType) {
    Digest d = Digest.sha256(manifest);
    manifests.put(d, manifest);
    mediaTypes.put(d, mediaType);
    if (tag != null) {
      tags.computeIfAbsent(repository, r -> new TreeMap<>()).put(tag, d);
    }
    return d;
  }

  public void putBlob(byte[] blob) {
    blobs.put(Digest.sha256(blob), blob);
  }

  /**
   * Serves {@code body} for blob {@code d} from now on, announcing {@code announcedSize} (-1 for none) as its
   * Content-Length; the blob need not be known otherwise.
   */
  public void blobBody(Digest d, long announcedSize, java.util.function.Supplier<java.io.InputStream> body) {
    bodies.put(d, new BodyOverride(announcedSize, body));
  }

  public void setDown(boolean down) {
    this.down = down;
  }

  public int blobGets(Digest d) {
    AtomicInteger n = blobGets.get(d);
    return n == null ? 0 : n.get();
  }

  public int totalBlobGets() {
    return blobGets.values().stream().mapToInt(AtomicInteger::get).sum();
  }

  @Override
  public String name() {
    return name;
  }

  private void check() throws UpstreamException {
    if (down) {
      throw new UpstreamException(0, name + " unreachable (test)", null, null);
    }
  }

  private Optional<Digest> resolve(String repository, String reference) {
    if (reference.contains(":")) {
      Digest d = Digest.parse(reference);
      return manifests.containsKey(d) ? Optional.of(d) : Optional.empty();
    }
    Map<String, Digest> t = tags.get(repository);
    return t == null ? Optional.empty() : Optional.ofNullable(t.get(reference));
  }

  @Override
  public Optional<RawManifest> manifest(String repository, String reference) throws UpstreamException {
    check();
    manifestGets.incrementAndGet();
    return resolve(repository, reference).map(d -> new RawManifest(manifests.get(d), mediaTypes.get(d), d));
  }

  @Override
  public Optional<ManifestHead> headManifest(String repository, String reference) throws UpstreamException {
    check();
    manifestHeads.incrementAndGet();
    return resolve(repository, reference)
        .map(d -> new ManifestHead(d, mediaTypes.get(d), manifests.get(d).length));
  }

  @Override
  public Optional<BlobStream> blob(String repository, Digest digest) throws UpstreamException {
    check();
    blobGets.computeIfAbsent(digest, d -> new AtomicInteger()).incrementAndGet();
    BodyOverride o = bodies.get(digest);
    if (o != null) {
      return Optional.of(new BlobStream(o.body().get(), o.announcedSize()));
    }
    byte[] b = blobs.get(digest);
    return b == null ? Optional.empty()
        : Optional.of(new BlobStream(new ByteArrayInputStream(b), b.length));
  }

  @Override
  public Optional<TagPage> tags(String repository, Integer n, String last) throws UpstreamException {
    check();
    Map<String, Digest> t = tags.get(repository);
    if (t == null) {
      return Optional.empty();
    }
    List<String> names = new ArrayList<>(t.keySet());
    var node = ImageJson.MAPPER.createObjectNode();
    node.put("name", repository);
    var arr = node.putArray("tags");
    names.stream().filter(x -> last == null || x.compareTo(last) > 0).limit(n == null ? Long.MAX_VALUE : n)
        .forEach(arr::add);
    return Optional.of(new TagPage(ImageJson.write(node), null));
  }

  @Override
  public void close() {}
}
