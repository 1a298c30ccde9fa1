package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageConfig;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One image of a docker-archive dressed as a registry image: a docker-archive has no registry manifest, so
 * one is made in memory (layer digest = sha256 of the stored file, media type from its compression) for
 * the Squasher, with a {@link BlobSource} that serves the archive's files by those digests.
 */
final class DockerArchiveImage {
  /** Names that carry their content's digest: docker save's {@code <id>.json} and Docker 25+'s blobs. */
  private static final Pattern DIGEST_NAME =
      Pattern.compile("(?:blobs/sha256/([a-f0-9]{64}))|(?:(?:.*/)?([a-f0-9]{64})\\.json)");

  final String name;
  final byte[] manifest;
  final Digest configDigest;
  private final ArchiveFiles files;
  private final Map<Digest, String> paths;

  private DockerArchiveImage(String name, byte[] manifest, Digest configDigest, ArchiveFiles files,
      Map<Digest, String> paths) {
    this.name = name;
    this.manifest = manifest;
    this.configDigest = configDigest;
    this.files = files;
    this.paths = paths;
  }

  /**
   * Reads the config and hashes every layer file.
   *
   * @param checkCompressedDiffIds also decompress compressed layers to check their diff_ids; needed when the
   *     Squasher will not read them (an image with nothing to squash), since nothing else would verify them
   */
  static DockerArchiveImage load(ArchiveFiles files, DockerArchiveManifest entry, boolean checkCompressedDiffIds)
      throws IOException {
    byte[] config = Blobs.readDocument(files, entry.config());
    Digest configDigest = Digest.sha256(config);
    checkNamedDigest(files, entry.config(), configDigest);
    String name = entry.name(configDigest);
    List<Digest> diffIds;
    try {
      diffIds = ImageConfig.parse(config).diffIds();
    } catch (InvalidImageException e) {
      throw new LayoutException(files.describe(entry.config()) + ": " + e.getMessage(), e);
    }
    if (diffIds.size() != entry.layers().size()) {
      throw new LayoutException(files.describe(DockerArchiveManifest.FILE) + ": image " + name + " lists "
          + entry.layers().size() + " layers but its config " + entry.config() + " has " + diffIds.size()
          + " diff_ids");
    }
    ObjectNode manifest = ImageJson.MAPPER.createObjectNode();
    manifest.put("schemaVersion", 2);
    manifest.put("mediaType", MediaTypes.DOCKER_MANIFEST);
    manifest.set("config", descriptor(MediaTypes.DOCKER_CONFIG, configDigest, config.length));
    ArrayNode layers = manifest.putArray("layers");
    Map<Digest, String> paths = new HashMap<>();
    paths.put(configDigest, entry.config());
    for (int i = 0; i < entry.layers().size(); i++) {
      String path = entry.layers().get(i);
      String what = files.describe(path) + ": layer " + i + " of image " + name;
      Blobs.Hashed h;
      try (InputStream in = files.open(path)) {
        h = Blobs.hash(in);
      }
      checkNamedDigest(files, path, h.digest());
      boolean plain = h.compression() == Compression.Algorithm.NONE;
      if (plain || checkCompressedDiffIds) {
        Digest diffId = plain ? h.digest() : uncompressedDigest(files, path, what);
        if (!diffId.equals(diffIds.get(i))) {
          throw new LayoutException(what + ": content " + diffId + " does not match diff_id " + diffIds.get(i)
              + " in the config (corrupt layer?)");
        }
      }
      layers.add(descriptor(mediaType(h.compression()), h.digest(), h.size()));
      paths.putIfAbsent(h.digest(), path);
    }
    return new DockerArchiveImage(name, ImageJson.write(manifest), configDigest, files, paths);
  }

  /** Serves the image's config and layers by digest, for the Squasher (which verifies them). */
  BlobSource blobs() {
    return digest -> {
      String path = paths.get(digest);
      if (path == null) {
        throw new FileNotFoundException("no file for " + digest + " in " + files.describe());
      }
      return files.open(path);
    };
  }

  /** The archive path a layer or config digest was read from. */
  String pathOf(Digest digest) {
    return paths.get(digest);
  }

  private static Digest uncompressedDigest(ArchiveFiles files, String path, String what) throws IOException {
    try (InputStream in = Compression.decompress(files.open(path))) {
      return Blobs.sha256(in);
    } catch (LayoutException e) {
      throw e;
    } catch (IOException e) {
      throw new LayoutException(what + ": cannot decompress (corrupt layer?): " + TarFiles.message(e), e);
    }
  }

  private static void checkNamedDigest(ArchiveFiles files, String path, Digest actual) throws LayoutException {
    Matcher m = DIGEST_NAME.matcher(path);
    if (m.matches()) {
      String hex = m.group(1) != null ? m.group(1) : m.group(2);
      if (!hex.equals(actual.hex())) {
        throw new LayoutException(files.describe(path) + ": content is " + actual
            + ", not the digest its name says (corrupt file?)");
      }
    }
  }

  private static String mediaType(Compression.Algorithm compression) {
    return switch (compression) {
      case GZIP, ESTARGZ -> MediaTypes.DOCKER_LAYER_GZIP;
      case ZSTD -> MediaTypes.OCI_LAYER_ZSTD;
      case NONE -> MediaTypes.DOCKER_LAYER_TAR;
    };
  }

  /** Field order as docker writes descriptors. */
  private static ObjectNode descriptor(String mediaType, Digest digest, long size) {
    ObjectNode d = ImageJson.MAPPER.createObjectNode();
    d.put("mediaType", mediaType);
    d.put("size", size);
    d.put("digest", digest.toString());
    return d;
  }
}
