package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Reads an image from a docker-archive tar, an OCI archive tar or an OCI layout directory: manifest, config
 * and layers (raw or decompressed). For assertions on the CLI's outputs; independent of the product code.
 */
public final class ImageArchive {

  public enum Format { DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_LAYOUT }

  /** A layer as stored: its path in the archive or layout, media type (null in a docker-archive), size. */
  public record Layer(String path, String mediaType, long size, String digest) {}

  private record Region(long offset, long size) {}

  public static final ObjectMapper JSON = new ObjectMapper();

  private final Path path;
  private final Format format;
  private final Map<String, Region> entries;
  private final JsonNode manifest;
  private final JsonNode config;
  private final List<Layer> layers = new ArrayList<>();

  private ImageArchive(Path path) throws IOException {
    this.path = path;
    if (Files.isDirectory(path)) {
      entries = null;
      format = Format.OCI_LAYOUT;
    } else {
      entries = index(path);
      format = entries.containsKey("manifest.json") ? Format.DOCKER_ARCHIVE : Format.OCI_ARCHIVE;
    }
    if (format == Format.DOCKER_ARCHIVE) {
      JsonNode list = JSON.readTree(read("manifest.json"));
      if (!list.isArray() || list.size() != 1) {
        throw new IOException("manifest.json should list exactly one image: " + list);
      }
      manifest = list.get(0);
      config = JSON.readTree(read(manifest.get("Config").asText()));
      for (JsonNode l : manifest.get("Layers")) {
        String p = l.asText();
        layers.add(new Layer(p, null, size(p), null));
      }
    } else {
      if (!exists("oci-layout")) {
        throw new IOException(path + " has neither manifest.json nor oci-layout");
      }
      JsonNode node = JSON.readTree(read("index.json"));
      if (node.get("manifests").size() != 1) {
        throw new IOException("index.json should list exactly one manifest: " + node);
      }
      JsonNode desc = node.get("manifests").get(0);
      JsonNode m = JSON.readTree(read(blobPath(desc.get("digest").asText())));
      while (m.has("manifests")) {
        desc = m.get("manifests").get(0);
        m = JSON.readTree(read(blobPath(desc.get("digest").asText())));
      }
      manifest = m;
      config = JSON.readTree(read(blobPath(m.get("config").get("digest").asText())));
      for (JsonNode l : m.get("layers")) {
        String d = l.get("digest").asText();
        layers.add(new Layer(blobPath(d), l.path("mediaType").asText(null), l.get("size").asLong(), d));
      }
    }
  }

  public static ImageArchive open(Path p) {
    try {
      return new ImageArchive(p);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read image " + p, e);
    }
  }

  public Format format() {
    return format;
  }

  public JsonNode manifest() {
    return manifest;
  }

  public JsonNode config() {
    return config;
  }

  public List<Layer> layers() {
    return layers;
  }

  /** Sum of the stored layer sizes (compressed sizes where the layers are compressed). */
  public long layerBytes() {
    return layers.stream().mapToLong(Layer::size).sum();
  }

  public static String blobPath(String digest) {
    int colon = digest.indexOf(':');
    return "blobs/" + digest.substring(0, colon) + "/" + digest.substring(colon + 1);
  }

  public boolean exists(String name) {
    return entries == null ? Files.exists(path.resolve(name)) : entries.containsKey(name);
  }

  public long size(String name) throws IOException {
    if (entries == null) {
      return Files.size(path.resolve(name));
    }
    Region r = entries.get(name);
    if (r == null) {
      throw new IOException("no " + name + " in " + path);
    }
    return r.size;
  }

  public byte[] read(String name) throws IOException {
    try (InputStream in = openRaw(name)) {
      return in.readAllBytes();
    }
  }

  /** The stored bytes of an archive member or layout file. */
  public InputStream openRaw(String name) throws IOException {
    if (entries == null) {
      return new BufferedInputStream(Files.newInputStream(path.resolve(name)), 1 << 16);
    }
    Region r = entries.get(name);
    if (r == null) {
      throw new IOException("no " + name + " in " + path);
    }
    FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
    ch.position(r.offset);
    InputStream base = Channels.newInputStream(ch);
    return new BufferedInputStream(new InputStream() {
      long left = r.size;

      @Override
      public int read() throws IOException {
        byte[] b = new byte[1];
        return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (left <= 0) {
          return -1;
        }
        int n = base.read(b, off, (int) Math.min(len, left));
        if (n > 0) {
          left -= n;
        }
        return n;
      }

      @Override
      public void close() throws IOException {
        ch.close();
      }
    }, 1 << 16);
  }

  /** A layer's tar stream, decompressed (gzip or zstd, detected by magic). */
  public InputStream openLayer(int i) throws IOException {
    return decompress(openRaw(layers.get(i).path()));
  }

  public static InputStream decompress(InputStream raw) throws IOException {
    InputStream in = raw.markSupported() ? raw : new BufferedInputStream(raw, 1 << 16);
    in.mark(4);
    byte[] magic = in.readNBytes(4);
    in.reset();
    if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
      return new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
    }
    if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5
        && (magic[2] & 0xff) == 0x2f && (magic[3] & 0xff) == 0xfd) {
      return new BufferedInputStream(new com.github.luben.zstd.ZstdInputStream(in), 1 << 16);
    }
    return in;
  }

  /** Member name to content region, for a tar file; names without a leading "./". */
  private static Map<String, Region> index(Path tar) throws IOException {
    Map<String, Region> m = new LinkedHashMap<>();
    try (InputStream in = new java.io.FileInputStream(tar.toFile())) {
      TarScan scan = new TarScan(in);
      TarScan.Entry e;
      while ((e = scan.next()) != null) {
        String n = e.name();
        while (n.startsWith("./")) {
          n = n.substring(2);
        }
        if (n.endsWith("/")) {
          n = n.substring(0, n.length() - 1);
        }
        m.put(n, new Region(e.dataOffset(), e.size()));
      }
    }
    return m;
  }

  /** The number of history entries that stand for a layer (those without {@code empty_layer: true}). */
  public int nonEmptyHistoryEntries() {
    int n = 0;
    for (JsonNode h : config.path("history")) {
      if (!h.path("empty_layer").asBoolean(false)) {
        n++;
      }
    }
    return n;
  }
}
