package io.squashproxy.core.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A small image built in memory: layer tars, compressed blobs, a config with diff_ids and history, and a
 * Docker schema 2 or OCI manifest, with every blob in a {@link MemoryBlobSource}.
 *
 * <pre>
 * TestImage img = TestImage.oci()
 *     .layer(LayerBuilder.layer().dir("etc").file("etc/hosts", "127.0.0.1"))
 *     .layer(LayerBuilder.layer().whiteout("etc/hosts"))
 *     .build();
 * squasher.squash(img.manifest(), img.blobs(), SquashOptions.DEFAULT, workDir);
 * </pre>
 */
public final class TestImage {
  static final ObjectMapper JSON = new ObjectMapper();

  private final byte[] manifest;
  private final byte[] config;
  private final List<byte[]> layerTars;
  private final List<byte[]> layerBlobs;
  private final List<Digest> layerDigests;
  private final MemoryBlobSource blobs;
  private final boolean docker;

  private TestImage(Builder b, byte[] manifest, byte[] config, List<byte[]> blobsList, List<Digest> digests,
      MemoryBlobSource blobs) {
    this.manifest = manifest;
    this.config = config;
    this.layerTars = List.copyOf(b.tars);
    this.layerBlobs = List.copyOf(blobsList);
    this.layerDigests = List.copyOf(digests);
    this.blobs = blobs;
    this.docker = b.docker;
  }

  public static Builder oci() {
    return new Builder(false);
  }

  public static Builder docker() {
    return new Builder(true);
  }

  public byte[] manifest() {
    return manifest.clone();
  }

  public Digest manifestDigest() {
    return Digest.sha256(manifest);
  }

  public byte[] config() {
    return config.clone();
  }

  public Digest configDigest() {
    return Digest.sha256(config);
  }

  /** The uncompressed tar of each layer, as the diff_ids describe them. */
  public List<byte[]> layerTars() {
    return layerTars;
  }

  public List<byte[]> layerBlobs() {
    return layerBlobs;
  }

  public List<Digest> layerDigests() {
    return layerDigests;
  }

  public MemoryBlobSource blobs() {
    return blobs;
  }

  public boolean isDocker() {
    return docker;
  }

  public ObjectNode manifestJson() {
    return parse(manifest);
  }

  public ObjectNode configJson() {
    return parse(config);
  }

  public static ObjectNode parse(byte[] json) {
    try {
      return (ObjectNode) JSON.readTree(json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static final class Builder {
    private final boolean docker;
    private final List<byte[]> tars = new ArrayList<>();
    private final List<byte[]> rawBlobs = new ArrayList<>();
    private final List<String> mediaTypes = new ArrayList<>();
    private final List<Digest> diffIdOverrides = new ArrayList<>();
    private Compression.Algorithm compression = Compression.Algorithm.GZIP;
    private boolean history = true;
    private Consumer<ObjectNode> configEdit = c -> {};
    private Consumer<ObjectNode> manifestEdit = m -> {};

    private Builder(boolean docker) {
      this.docker = docker;
    }

    /** Compression of the layers added from now on. */
    public Builder compression(Compression.Algorithm algorithm) {
      this.compression = algorithm;
      return this;
    }

    public Builder layer(LayerBuilder layer) {
      return layer(layer.tar());
    }

    public Builder layer(byte[] tar) {
      byte[] blob = switch (compression) {
        case GZIP -> Blobs.gzip(tar);
        case ZSTD -> Blobs.zstd(tar);
        case NONE -> tar.clone();
        case ESTARGZ -> throw new IllegalArgumentException("test layers are gzip, zstd or plain");
      };
      return rawLayer(tar, blob, layerMediaType(compression));
    }

    /** A layer whose blob is given as is (for corrupt blobs); {@code tar} is what its diff_id hashes. */
    public Builder rawLayer(byte[] tar, byte[] blob, String mediaType) {
      tars.add(tar);
      rawBlobs.add(blob);
      mediaTypes.add(mediaType);
      diffIdOverrides.add(null);
      return this;
    }

    /** Overrides the diff_id of the layer added last. */
    public Builder diffId(Digest diffId) {
      diffIdOverrides.set(diffIdOverrides.size() - 1, diffId);
      return this;
    }

    /** Without a history array in the config. */
    public Builder noHistory() {
      this.history = false;
      return this;
    }

    /** Edits the config JSON after it is built (before it is hashed). */
    public Builder editConfig(Consumer<ObjectNode> edit) {
      this.configEdit = this.configEdit.andThen(edit);
      return this;
    }

    /** Edits the manifest JSON after it is built. */
    public Builder editManifest(Consumer<ObjectNode> edit) {
      this.manifestEdit = this.manifestEdit.andThen(edit);
      return this;
    }

    public String layerMediaType(Compression.Algorithm algorithm) {
      return switch (algorithm) {
        case GZIP, ESTARGZ -> docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
        case ZSTD -> MediaTypes.OCI_LAYER_ZSTD;
        case NONE -> docker ? MediaTypes.DOCKER_LAYER_TAR : MediaTypes.OCI_LAYER_TAR;
      };
    }

    public TestImage build() {
      MemoryBlobSource blobs = new MemoryBlobSource();
      ObjectNode config = JSON.createObjectNode();
      config.put("created", "2024-01-02T03:04:05Z");
      config.put("architecture", "amd64");
      config.put("os", "linux");
      ObjectNode cc = config.putObject("config");
      cc.putArray("Env").add("PATH=/usr/local/bin:/usr/bin:/bin");
      cc.putArray("Cmd").add("/bin/sh");
      cc.putObject("Labels").put("org.example.test", "yes");
      ObjectNode rootfs = config.putObject("rootfs");
      rootfs.put("type", "layers");
      ArrayNode ids = rootfs.putArray("diff_ids");
      for (int i = 0; i < tars.size(); i++) {
        Digest id = diffIdOverrides.get(i) != null ? diffIdOverrides.get(i) : Digest.sha256(tars.get(i));
        ids.add(id.toString());
      }
      if (history) {
        ArrayNode h = config.putArray("history");
        for (int i = 0; i < tars.size(); i++) {
          ObjectNode e = h.addObject();
          e.put("created", String.format("2024-01-01T00:00:%02dZ", i));
          e.put("created_by", "/bin/sh -c step " + i);
          if (i == 0) {
            ObjectNode env = h.addObject();
            env.put("created", "2024-01-01T00:00:00Z");
            env.put("created_by", "ENV A=1");
            env.put("empty_layer", true);
          }
        }
      }
      configEdit.accept(config);
      byte[] configBytes = write(config);
      Digest configDigest = blobs.put(configBytes);

      ObjectNode m = JSON.createObjectNode();
      m.put("schemaVersion", 2);
      m.put("mediaType", docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST);
      ObjectNode c = m.putObject("config");
      c.put("mediaType", docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG);
      c.put("digest", configDigest.toString());
      c.put("size", configBytes.length);
      ArrayNode layers = m.putArray("layers");
      List<Digest> digests = new ArrayList<>();
      for (int i = 0; i < rawBlobs.size(); i++) {
        Digest d = blobs.put(rawBlobs.get(i));
        digests.add(d);
        ObjectNode l = layers.addObject();
        l.put("mediaType", mediaTypes.get(i));
        l.put("digest", d.toString());
        l.put("size", rawBlobs.get(i).length);
      }
      if (!docker) {
        m.putObject("annotations").put("org.opencontainers.image.title", "test image");
      }
      manifestEdit.accept(m);
      return new TestImage(this, write(m), configBytes, rawBlobs, digests, blobs);
    }
  }

  static byte[] write(ObjectNode node) {
    try {
      return JSON.writeValueAsBytes(node);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
