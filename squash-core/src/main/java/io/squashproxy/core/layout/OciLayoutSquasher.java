package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.DigestMismatchException;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.image.NotAnImageException;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Squashes every image an OCI layout's index.json reaches (through nested indexes too) and writes a new
 * layout holding exactly the blobs the new index.json reaches: the untouched ones copied and verified,
 * the new configs, layers, manifests and indexes added. Index entries keep their annotations and platform.
 */
final class OciLayoutSquasher {
  static final String OCI_LAYOUT_FILE = "oci-layout";
  static final String INDEX_FILE = "index.json";
  private static final int MAX_INDEX_DEPTH = 8;
  private static final String REF_NAME = "org.opencontainers.image.ref.name";
  private static final String CONTAINERD_NAME = "io.containerd.image.name";
  /** buildx attestation manifests point at their image with this index annotation. */
  private static final String DOCKER_REFERENCE_DIGEST = "vnd.docker.reference.digest";

  private final ArchiveFiles in;
  private final LayoutSink out;
  private final SquashOptions options;
  private final Path workDir;
  private final ArchiveListener listener;
  private final Squasher squasher;
  private final BlobSource blobs;
  /** Source manifest or index digest to what was written for it, so shared entries are squashed once. */
  private final Map<Digest, Descriptor> done = new HashMap<>();
  private final List<ImageOutcome> outcomes = new ArrayList<>();

  OciLayoutSquasher(ArchiveFiles in, LayoutSink out, SquashOptions options, Path workDir,
      ArchiveListener listener) {
    this.in = in;
    this.out = out;
    this.options = options;
    this.workDir = workDir;
    this.listener = listener;
    // Images of one archive often share layers: each is indexed once for all of them.
    this.squasher = new Squasher(listener, io.squashproxy.core.layer.CompressionPool.shared(),
        io.squashproxy.core.squash.LayerIndexStore.inMemory(ArchiveAnalyzer.SHARED_INDEXES));
    this.blobs = digest -> in.open(Blobs.path(digest));
  }

  List<ImageOutcome> run() throws IOException {
    byte[] layout = readLayoutFile();
    byte[] indexBytes = Blobs.readDocument(in, INDEX_FILE);
    ImageIndex index;
    try {
      index = ImageIndex.parse(indexBytes);
    } catch (InvalidImageException e) {
      throw new LayoutException(in.describe(INDEX_FILE) + ": " + e.getMessage(), e);
    }
    byte[] newIndex = rewriteIndex(index, indexBytes, null, 0);
    out.putFile(OCI_LAYOUT_FILE, layout);
    out.putFile(INDEX_FILE, newIndex);
    return outcomes;
  }

  private byte[] readLayoutFile() throws IOException {
    if (!in.exists(OCI_LAYOUT_FILE)) {
      throw new LayoutException(in.describe() + ": not an OCI image layout (no " + OCI_LAYOUT_FILE + " file)");
    }
    byte[] bytes = Blobs.readDocument(in, OCI_LAYOUT_FILE);
    try {
      if (!ImageJson.parseObject(bytes, OCI_LAYOUT_FILE).path("imageLayoutVersion").isTextual()) {
        throw new LayoutException(in.describe(OCI_LAYOUT_FILE) + ": lacks imageLayoutVersion");
      }
    } catch (InvalidImageException e) {
      throw new LayoutException(in.describe(OCI_LAYOUT_FILE) + ": " + e.getMessage(), e);
    }
    return bytes;
  }

  /** The index with each entry processed; its original bytes when no entry changed. */
  private byte[] rewriteIndex(ImageIndex index, byte[] original, String label, int depth) throws IOException {
    List<Descriptor> replaced = new ArrayList<>();
    Map<String, String> moved = new HashMap<>();
    for (Descriptor child : index.manifests()) {
      Descriptor now = process(child, nameOf(child, label), depth + 1);
      replaced.add(now);
      if (!now.digest().equals(child.digest())) {
        moved.put(child.digest().toString(), now.digest().toString());
      }
    }
    if (moved.isEmpty()) {
      return original;
    }
    Iterator<Descriptor> it = replaced.iterator();
    return index.rewrite(d -> followMoves(it.next(), moved));
  }

  /** Points an attestation's reference annotation at the squashed image it now describes. */
  private static Descriptor followMoves(Descriptor d, Map<String, String> moved) {
    String ref = d.json().path("annotations").path(DOCKER_REFERENCE_DIGEST).asText(null);
    if (ref == null || !moved.containsKey(ref)) {
      return d;
    }
    ObjectNode json = d.json().deepCopy();
    ((ObjectNode) json.get("annotations")).put(DOCKER_REFERENCE_DIGEST, moved.get(ref));
    return new Descriptor(d.mediaType(), d.digest(), d.size(), json);
  }

  /** Writes what {@code d} reaches and returns the descriptor to put in its place. */
  private Descriptor process(Descriptor d, String name, int depth) throws IOException {
    Descriptor prior = done.get(d.digest());
    if (prior != null) {
      return retarget(d, prior.digest(), prior.size());
    }
    String path = Blobs.path(d.digest());
    if (depth > MAX_INDEX_DEPTH) {
      throw new LayoutException(in.describe(path) + ": indexes nested more than " + MAX_INDEX_DEPTH + " deep");
    }
    byte[] bytes = Blobs.readVerified(in, path, d.digest(), d.size());
    Descriptor written;
    if (MediaTypes.isIndex(d.mediaType()) || ImageIndex.looksLikeIndex(bytes)) {
      ImageIndex child;
      try {
        child = ImageIndex.parse(bytes);
      } catch (InvalidImageException e) {
        throw new LayoutException(in.describe(path) + ": " + e.getMessage(), e);
      }
      written = store(d, bytes, rewriteIndex(child, bytes, name, depth));
    } else {
      written = processManifest(d, bytes, name);
    }
    done.put(d.digest(), written);
    return written;
  }

  private Descriptor processManifest(Descriptor d, byte[] bytes, String name) throws IOException {
    String path = Blobs.path(d.digest());
    ImageManifest manifest;
    try {
      manifest = ImageManifest.parse(bytes);
    } catch (NotAnImageException e) {
      return copyArtifact(d, bytes, name);
    } catch (InvalidImageException e) {
      throw new LayoutException(in.describe(path) + ": image " + name + ": " + e.getMessage(), e);
    }
    if (!manifest.layers().isEmpty()
        && manifest.layers().stream().noneMatch(l -> MediaTypes.isSquashableLayer(l.mediaType()))) {
      // An attestation or artifact dressed as an image (in-toto layers): nothing a container runs.
      return copyArtifact(d, bytes, name);
    }
    listener.imageStarted(name);
    SquashResult result;
    try {
      result = squasher.squash(bytes, blobs, options, workDir);
    } catch (SquashException e) {
      String file = e.layer() == null ? "" : " [" + in.describe(Blobs.path(e.layer())) + "]";
      throw new LayoutException(in.describe() + ": image " + name + ": " + e.getMessage() + file, e);
    } catch (InvalidImageException e) {
      throw new LayoutException(in.describe(path) + ": image " + name + ": " + e.getMessage(), e);
    }
    try {
      writeImage(result, name);
    } finally {
      result.deleteLayerFile();
    }
    ImageOutcome outcome = new ImageOutcome(name,
        result.squashed() ? ImageOutcome.Kind.SQUASHED : ImageOutcome.Kind.NOTHING_TO_SQUASH,
        result.squashed() ? result.manifestDigest() : d.digest(), result.configDigest(), result.report());
    outcomes.add(outcome);
    listener.imageFinished(outcome);
    return store(d, bytes, result.squashed() ? result.manifest() : bytes);
  }

  private void writeImage(SquashResult result, String name) throws IOException {
    if (!out.hasBlob(result.configDigest())) {
      out.putBlob(result.configDigest(), result.config());
    }
    List<Descriptor> layers = result.layers();
    for (int i = 0; i < layers.size(); i++) {
      Descriptor layer = layers.get(i);
      boolean isNew = result.squashed() && i == layers.size() - 1;
      if (isNew && !out.hasBlob(layer.digest())) {
        out.moveBlob(layer.digest(), layer.size(), result.squashedLayerFile());
      } else if (!isNew) {
        copyBlob(layer, "image " + name + ": layer " + i);
      }
    }
  }

  /** Copies a manifest we do not squash and the blobs it names, as they are. */
  private Descriptor copyArtifact(Descriptor d, byte[] bytes, String name) throws IOException {
    ObjectNode json;
    try {
      json = ImageJson.parseObject(bytes, "manifest");
    } catch (InvalidImageException e) {
      json = ImageJson.MAPPER.createObjectNode(); // opaque content: the blob alone is copied
    }
    List<JsonNode> refs = new ArrayList<>();
    if (json.has("config")) {
      refs.add(json.get("config"));
    }
    for (String field : List.of("layers", "blobs")) {
      json.path(field).forEach(refs::add);
    }
    for (JsonNode ref : refs) {
      Descriptor blob;
      try {
        blob = Descriptor.parse(ref, "descriptor in " + name);
      } catch (InvalidImageException e) {
        throw new LayoutException(in.describe(Blobs.path(d.digest())) + ": " + e.getMessage(), e);
      }
      copyBlob(blob, name);
    }
    ImageOutcome outcome = new ImageOutcome(name, ImageOutcome.Kind.NOT_AN_IMAGE, d.digest(), null, null);
    outcomes.add(outcome);
    listener.imageFinished(outcome);
    return store(d, bytes, bytes);
  }

  private void copyBlob(Descriptor blob, String what) throws IOException {
    String path = Blobs.path(blob.digest());
    if (out.hasBlob(blob.digest())) {
      return;
    }
    if (!in.exists(path) && mayBeElsewhere(blob)) {
      return; // foreign layers live on another server; the layout need not hold them
    }
    try {
      out.copyBlob(blob.digest(), blob.size(), Blobs.openVerified(in, path, blob.digest(), blob.size()));
    } catch (DigestMismatchException e) {
      throw new LayoutException(what + ": corrupt blob: " + e.getMessage(), e);
    }
  }

  private static boolean mayBeElsewhere(Descriptor blob) {
    return MediaTypes.isNonDistributable(blob.mediaType()) || blob.json().has("urls") || blob.json().has("data");
  }

  /** Writes a manifest or index blob and returns {@code d} pointed at it. */
  private Descriptor store(Descriptor d, byte[] original, byte[] content) throws IOException {
    Digest digest = content == original ? d.digest() : Digest.sha256(content);
    if (!out.hasBlob(digest)) {
      out.putBlob(digest, content);
    }
    return retarget(d, digest, content.length);
  }

  private static Descriptor retarget(Descriptor d, Digest digest, long size) {
    if (digest.equals(d.digest())) {
      return d;
    }
    ObjectNode json = d.json().deepCopy();
    json.put("digest", digest.toString());
    json.put("size", size);
    json.remove("data"); // embedded content of the old blob
    return new Descriptor(d.mediaType(), digest, size, json);
  }

  private static String nameOf(Descriptor d, String parent) {
    JsonNode annotations = d.json().path("annotations");
    String ref = annotations.path(REF_NAME).asText(annotations.path(CONTAINERD_NAME).asText(null));
    String base = ref != null ? ref : parent != null ? parent : d.digest().toString().substring(0, 19);
    JsonNode platform = d.json().path("platform");
    if (!platform.isObject()) {
      return base;
    }
    String p = platform.path("os").asText("?") + "/" + platform.path("architecture").asText("?")
        + (platform.has("variant") ? "/" + platform.path("variant").asText() : "");
    return base + " [" + p + "]";
  }
}
