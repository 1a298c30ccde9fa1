package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.DigestMismatchException;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Squashes each image of a docker-archive and writes a new one as {@code docker save} lays it out:
 * {@code <layerhex>/layer.tar}, {@code <confighex>.json}, then manifest.json and, when there are tags,
 * repositories. Members shared by several images are written once.
 */
final class DockerArchiveSquasher {
  private final ArchiveFiles in;
  private final SquashOptions options;
  private final Path workDir;
  private final ArchiveListener listener;
  private final Squasher squasher;
  private final Set<String> written = new HashSet<>();
  private final ArrayNode manifests = ImageJson.MAPPER.createArrayNode();
  /** repository -> tag -> top layer, docker's pre-manifest.json index, still read by old tools. */
  private final Map<String, Map<String, String>> repositories = new LinkedHashMap<>();

  DockerArchiveSquasher(ArchiveFiles in, SquashOptions options, Path workDir, ArchiveListener listener) {
    this.in = in;
    this.options = options;
    this.workDir = workDir;
    this.listener = listener;
    // Images of one archive often share layers: each is indexed once for all of them.
    this.squasher = new Squasher(listener, io.squashproxy.core.layer.CompressionPool.shared(),
        io.squashproxy.core.squash.LayerIndexStore.inMemory(ArchiveAnalyzer.SHARED_INDEXES));
  }

  List<ImageOutcome> run(Path outFile) throws IOException {
    List<DockerArchiveManifest> entries = DockerArchiveManifest.parse(in);
    List<ImageOutcome> outcomes = new ArrayList<>();
    try (DeterministicTarWriter out =
        new DeterministicTarWriter(new BufferedOutputStream(Files.newOutputStream(outFile), 1 << 16))) {
      for (DockerArchiveManifest entry : entries) {
        outcomes.add(squashOne(entry, out));
      }
      out.file(DockerArchiveManifest.FILE, ImageJson.write(manifests));
      if (!repositories.isEmpty()) {
        out.file("repositories", ImageJson.write(ImageJson.MAPPER.valueToTree(repositories)));
      }
    }
    return outcomes;
  }

  private ImageOutcome squashOne(DockerArchiveManifest entry, DeterministicTarWriter out) throws IOException {
    int layerCount = entry.layers().size();
    boolean nothingToSquash = layerCount - Math.min(options.keepLayers(), layerCount) <= 1;
    DockerArchiveImage image = DockerArchiveImage.load(in, entry, nothingToSquash);
    listener.imageStarted(image.name);
    SquashResult result;
    try {
      result = squasher.squash(image.manifest, image.blobs(), options, workDir);
    } catch (SquashException e) {
      String file = e.layer() == null ? "" : " [archive member '" + image.pathOf(e.layer()) + "']";
      throw new LayoutException(in.describe() + ": image " + image.name + ": " + e.getMessage() + file, e);
    } catch (InvalidImageException e) {
      throw new LayoutException(in.describe(entry.config()) + ": image " + image.name + ": " + e.getMessage(), e);
    }
    List<String> layerNames = new ArrayList<>();
    try {
      List<Descriptor> layers = result.layers();
      for (int i = 0; i < layers.size(); i++) {
        boolean isNew = result.squashed() && i == layers.size() - 1;
        layerNames.add(writeLayer(out, layers.get(i), isNew ? result.squashedLayerFile() : null, image, i));
      }
    } finally {
      result.deleteLayerFile();
    }
    String configName = result.configDigest().hex() + ".json";
    if (written.add(configName)) {
      out.file(configName, result.config());
    }
    addManifestEntry(configName, entry.repoTags(), layerNames);
    ImageOutcome outcome = new ImageOutcome(image.name,
        result.squashed() ? ImageOutcome.Kind.SQUASHED : ImageOutcome.Kind.NOTHING_TO_SQUASH,
        result.manifestDigest(), result.configDigest(), result.report());
    listener.imageFinished(outcome);
    return outcome;
  }

  /** Writes a layer as {@code <hex>/layer.tar} (from the new file, or copied from the input). */
  private String writeLayer(DeterministicTarWriter out, Descriptor layer, Path newFile, DockerArchiveImage image,
      int index) throws IOException {
    String dir = layer.digest().hex();
    String name = dir + "/layer.tar";
    if (!written.add(name)) {
      return name;
    }
    out.directory(dir);
    if (newFile != null) {
      try (InputStream content = new BufferedInputStream(Files.newInputStream(newFile), 1 << 16)) {
        out.file(name, layer.size(), content);
      }
      return name;
    }
    String source = image.pathOf(layer.digest());
    try (VerifyingInputStream content = Blobs.openVerified(in, source, layer.digest(), layer.size())) {
      out.file(name, layer.size(), content);
      content.drainAndVerify();
    } catch (DigestMismatchException e) {
      throw new LayoutException("image " + image.name + ": layer " + index + " changed while being read: "
          + e.getMessage(), e);
    }
    return name;
  }

  private void addManifestEntry(String configName, List<String> tags, List<String> layerNames) {
    ObjectNode m = manifests.addObject();
    m.put("Config", configName);
    if (tags.isEmpty()) {
      m.putNull("RepoTags");
    } else {
      tags.forEach(m.putArray("RepoTags")::add);
    }
    layerNames.forEach(m.putArray("Layers")::add);
    if (layerNames.isEmpty()) {
      return;
    }
    String last = layerNames.get(layerNames.size() - 1);
    String topLayer = last.substring(0, last.indexOf('/'));
    for (String tag : tags) {
      int colon = tag.lastIndexOf(':');
      if (tag.contains("@") || colon < 0 || colon < tag.lastIndexOf('/')) {
        continue; // not repo:tag
      }
      repositories.computeIfAbsent(tag.substring(0, colon), r -> new LinkedHashMap<>())
          .put(tag.substring(colon + 1), topLayer);
    }
  }
}
