package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.image.NotAnImageException;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.squash.LayerIndexStore;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.core.squash.SquashListener;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.core.squash.WasteAnalysis;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Where the images of an offline archive waste bytes ({@code analyze}): a docker-archive, an OCI image layout
 * directory or an OCI archive, every image it holds (each platform of an index). Reads each layer once,
 * verifying it, and writes nothing but temporary files, removed at the end.
 */
public final class ArchiveAnalyzer {
  /** Layer indexes kept in memory while one archive is read: images of one archive often share layers. */
  static final int SHARED_INDEXES = 16;

  private static final int MAX_INDEX_DEPTH = 8;
  private static final String REF_NAME = "org.opencontainers.image.ref.name";

  /** One image of the archive and where it wastes bytes; {@code manifest} as a registry would serve it. */
  public record AnalyzedImage(String name, byte[] manifest, WasteAnalysis analysis) {}

  private final Squasher squasher = new Squasher(SquashListener.NONE, CompressionPool.shared(),
      LayerIndexStore.inMemory(SHARED_INDEXES));

  /**
   * @throws LayoutException for unreadable or broken input, naming the file, image, layer and entry at fault
   */
  public List<AnalyzedImage> analyze(Path input) throws IOException {
    Path in = input.toAbsolutePath().normalize();
    if (!Files.exists(in)) {
      throw new LayoutException(input + ": no such file or directory");
    }
    if (Files.isDirectory(in)) {
      return oci(new DirectoryFiles(in));
    }
    Path work = Files.createTempDirectory("squash-analyze-");
    try (TarFiles files = TarFiles.open(in, work)) {
      ArchiveFormat format = ArchiveFormat.ofTarNames(files.names());
      if (format == null) {
        throw new LayoutException(input + ": neither a docker-archive (no manifest.json) nor an OCI archive"
            + " (no oci-layout and index.json)");
      }
      return format == ArchiveFormat.DOCKER_ARCHIVE ? docker(files) : oci(files);
    } finally {
      ArchiveSquasher.deleteQuietly(work);
    }
  }

  private List<AnalyzedImage> docker(ArchiveFiles files) throws IOException {
    List<AnalyzedImage> out = new ArrayList<>();
    for (DockerArchiveManifest entry : DockerArchiveManifest.parse(files)) {
      DockerArchiveImage image = DockerArchiveImage.load(files, entry, false);
      try {
        out.add(new AnalyzedImage(image.name, image.manifest,
            squasher.analyze(image.manifest, image.blobs(), Long.MAX_VALUE)));
      } catch (SquashException e) {
        String file = e.layer() == null ? "" : " [archive member '" + image.pathOf(e.layer()) + "']";
        throw new LayoutException(files.describe() + ": image " + image.name + ": " + e.getMessage() + file, e);
      } catch (InvalidImageException e) {
        throw new LayoutException(files.describe(entry.config()) + ": image " + image.name + ": "
            + e.getMessage(), e);
      }
    }
    return out;
  }

  private List<AnalyzedImage> oci(ArchiveFiles files) throws IOException {
    if (!files.exists(OciLayoutSquasher.OCI_LAYOUT_FILE)) {
      throw new LayoutException(files.describe() + ": not an OCI image layout (no "
          + OciLayoutSquasher.OCI_LAYOUT_FILE + " file)");
    }
    byte[] indexBytes = Blobs.readDocument(files, OciLayoutSquasher.INDEX_FILE);
    List<AnalyzedImage> out = new ArrayList<>();
    walk(files, parseIndex(files, OciLayoutSquasher.INDEX_FILE, indexBytes), null, 0, new HashSet<>(), out);
    return out;
  }

  private void walk(ArchiveFiles files, ImageIndex index, String label, int depth, Set<String> seen,
      List<AnalyzedImage> out) throws IOException {
    for (Descriptor d : index.manifests()) {
      if (!seen.add(d.digest().toString())) {
        continue;
      }
      String path = Blobs.path(d.digest());
      if (depth >= MAX_INDEX_DEPTH) {
        throw new LayoutException(files.describe(path) + ": indexes nested more than " + MAX_INDEX_DEPTH + " deep");
      }
      byte[] bytes = Blobs.readVerified(files, path, d.digest(), d.size());
      String name = nameOf(d, label);
      if (MediaTypes.isIndex(d.mediaType()) || ImageIndex.looksLikeIndex(bytes)) {
        walk(files, parseIndex(files, path, bytes), name, depth + 1, seen, out);
        continue;
      }
      ImageManifest manifest;
      try {
        manifest = ImageManifest.parse(bytes);
      } catch (NotAnImageException e) {
        continue; // an artifact: nothing a container runs
      } catch (InvalidImageException e) {
        throw new LayoutException(files.describe(path) + ": image " + name + ": " + e.getMessage(), e);
      }
      if (!manifest.layers().isEmpty()
          && manifest.layers().stream().noneMatch(l -> MediaTypes.isSquashableLayer(l.mediaType()))) {
        continue; // an attestation dressed as an image
      }
      BlobSource blobs = digest -> files.open(Blobs.path(digest));
      try {
        out.add(new AnalyzedImage(name, bytes, squasher.analyze(bytes, blobs, Long.MAX_VALUE)));
      } catch (SquashException e) {
        String file = e.layer() == null ? "" : " [" + files.describe(Blobs.path(e.layer())) + "]";
        throw new LayoutException(files.describe() + ": image " + name + ": " + e.getMessage() + file, e);
      } catch (InvalidImageException e) {
        throw new LayoutException(files.describe(path) + ": image " + name + ": " + e.getMessage(), e);
      }
    }
  }

  private static ImageIndex parseIndex(ArchiveFiles files, String path, byte[] bytes) throws LayoutException {
    try {
      return ImageIndex.parse(bytes);
    } catch (InvalidImageException e) {
      throw new LayoutException(files.describe(path) + ": " + e.getMessage(), e);
    }
  }

  private static String nameOf(Descriptor d, String parent) {
    String ref = d.json().path("annotations").path(REF_NAME).asText(null);
    String base = ref != null ? ref : parent != null ? parent : d.digest().toString().substring(0, 19);
    JsonNode p = d.json().path("platform");
    return !p.isObject() ? base : base + " [" + p.path("os").asText("?") + "/" + p.path("architecture").asText("?")
        + (p.has("variant") ? "/" + p.path("variant").asText() : "") + "]";
  }
}
