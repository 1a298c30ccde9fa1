package io.squashproxy.core.layout;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Tiny images built in code, written as docker-archives, OCI layouts and OCI archives, and helpers to read
 * the results back. Shared with the CLI tests through squash-core's test jar.
 */
public final class TestImages {
  private TestImages() {}

  /**
   * A layer tar from specs: {@code "dir/"} is a directory, {@code "path=text"} a file with that content,
   * {@code "path"} an empty file (use {@code "dir/.wh.name"} for a whiteout).
   */
  public static byte[] layer(String... specs) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarWriter tar = new TarWriter(bytes)) {
      for (String spec : specs) {
        if (spec.endsWith("/")) {
          tar.putEntry(TarEntry.of(spec, TarType.DIRECTORY, 0755, 0));
          continue;
        }
        int eq = spec.indexOf('=');
        String name = eq < 0 ? spec : spec.substring(0, eq);
        byte[] content = eq < 0 ? new byte[0] : spec.substring(eq + 1).getBytes(StandardCharsets.UTF_8);
        tar.putEntry(TarEntry.of(name, TarType.REGULAR, 0644, content.length));
        tar.write(content, 0, content.length);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** Three layers: a base, an update, and a deletion by whiteout. */
  public static List<byte[]> threeLayers(String flavour) {
    return List.of(
        layer("etc/", "etc/os-release=" + flavour, "etc/passwd=root:x:0:0", "bin/", "bin/sh=#!shell"),
        layer("etc/", "etc/motd=hello " + flavour, "etc/passwd=root:x:0:0\nuser:x:1000:1000", "tmp/"),
        layer("etc/", "etc/.wh.motd", "usr/", "usr/app=app " + flavour));
  }

  public static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream gz = Compression.GZIP.compress(out)) {
      gz.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  public static byte[] decompress(byte[] blob) {
    try (InputStream in = Compression.decompress(new ByteArrayInputStream(blob))) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** An image config for these uncompressed layer tars, with one history entry per layer. */
  public static byte[] config(List<byte[]> tars, String architecture) {
    ObjectNode c = ImageJson.MAPPER.createObjectNode();
    c.put("architecture", architecture);
    c.put("os", "linux");
    c.put("created", "2024-01-01T00:00:00Z");
    c.putObject("config").putArray("Env").add("PATH=/usr/bin:/bin");
    ObjectNode rootfs = c.putObject("rootfs");
    rootfs.put("type", "layers");
    ArrayNode ids = rootfs.putArray("diff_ids");
    ArrayNode history = c.putArray("history");
    for (int i = 0; i < tars.size(); i++) {
      ids.add(Digest.sha256(tars.get(i)).toString());
      ObjectNode h = history.addObject();
      h.put("created", "2024-01-0" + (i + 1) + "T00:00:00Z");
      h.put("created_by", "RUN step " + i);
    }
    return ImageJson.write(c);
  }

  /** An image in a docker-archive: tags, uncompressed layer tars, and how the layers are stored. */
  public record DockerImage(List<String> tags, List<byte[]> tars, boolean gzipLayers, int corruptLayer) {
    public DockerImage(List<String> tags, List<byte[]> tars) {
      this(tags, tars, false, -1);
    }
  }

  /** Writes a docker-archive as docker save (before Docker 25) lays it out. */
  public static void writeDockerArchive(Path file, List<DockerImage> images) throws IOException {
    Map<String, byte[]> members = new LinkedHashMap<>();
    ArrayNode manifest = ImageJson.MAPPER.createArrayNode();
    for (DockerImage image : images) {
      ObjectNode m = manifest.addObject();
      byte[] config = config(image.tars(), "amd64");
      String configName = Digest.sha256(config).hex() + ".json";
      m.put("Config", configName);
      image.tags().forEach(m.putArray("RepoTags")::add);
      ArrayNode layers = m.putArray("Layers");
      for (int i = 0; i < image.tars().size(); i++) {
        byte[] stored = image.gzipLayers() ? gzip(image.tars().get(i)) : image.tars().get(i);
        String id = Digest.sha256(stored).hex();
        if (i == image.corruptLayer()) {
          stored = corrupt(stored);
        }
        members.put(id + "/", null);
        members.put(id + "/VERSION", "1.0".getBytes(StandardCharsets.UTF_8));
        members.put(id + "/layer.tar", stored);
        layers.add(id + "/layer.tar");
      }
      members.put(configName, config);
    }
    members.put("manifest.json", ImageJson.write(manifest));
    writeTar(file, members);
  }

  /** Flips a byte in the middle of the content (inside the first file's data for a plain tar). */
  public static byte[] corrupt(byte[] stored) {
    byte[] copy = stored.clone();
    int at = Math.min(copy.length - 1, isCompressed(copy) ? copy.length / 2 : 512 + 2);
    copy[at] ^= 0x5a;
    return copy;
  }

  private static boolean isCompressed(byte[] b) {
    return b.length > 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b;
  }

  /** One image for an OCI layout: its layers, platform (may be null) and gzip or plain layers. */
  public record OciImage(List<byte[]> tars, String architecture) {}

  /**
   * Writes an OCI layout. Each entry of {@code refs} becomes one index.json entry named by its key: a
   * single image, or (with several images) a nested index with one manifest per platform.
   */
  public static void writeOciLayout(Path dir, Map<String, List<OciImage>> refs) throws IOException {
    Files.createDirectories(dir.resolve("blobs/sha256"));
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    ObjectNode index = ImageJson.MAPPER.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", MediaTypes.OCI_INDEX);
    ArrayNode entries = index.putArray("manifests");
    for (Map.Entry<String, List<OciImage>> ref : refs.entrySet()) {
      ObjectNode entry;
      if (ref.getValue().size() == 1) {
        entry = writeOciImage(dir, ref.getValue().get(0));
      } else {
        ObjectNode nested = ImageJson.MAPPER.createObjectNode();
        nested.put("schemaVersion", 2);
        nested.put("mediaType", MediaTypes.OCI_INDEX);
        ArrayNode platforms = nested.putArray("manifests");
        for (OciImage image : ref.getValue()) {
          ObjectNode d = writeOciImage(dir, image);
          ObjectNode platform = d.putObject("platform");
          platform.put("architecture", image.architecture());
          platform.put("os", "linux");
          platforms.add(d);
        }
        entry = descriptor(MediaTypes.OCI_INDEX, writeBlob(dir, ImageJson.write(nested)));
      }
      entry.putObject("annotations").put("org.opencontainers.image.ref.name", ref.getKey());
      entries.add(entry);
    }
    Files.write(dir.resolve("index.json"), ImageJson.write(index));
  }

  /**
   * Adds a buildx-style attestation (an image manifest whose one layer is in-toto JSON, on platform
   * unknown/unknown) to the nested index of index.json entry {@code entry}, pointing at its first image
   * with the {@code vnd.docker.reference.digest} annotation.
   */
  public static void addAttestation(Path dir, int entry) throws IOException {
    ObjectNode index = (ObjectNode) json(Files.readAllBytes(dir.resolve("index.json")));
    ObjectNode entryDesc = (ObjectNode) index.get("manifests").get(entry);
    Path nestedPath = dir.resolve("blobs/sha256/" + entryDesc.get("digest").asText().substring(7));
    ObjectNode nested = (ObjectNode) json(Files.readAllBytes(nestedPath));
    String subject = nested.get("manifests").get(0).get("digest").asText();
    ObjectNode manifest = ImageJson.MAPPER.createObjectNode();
    manifest.put("schemaVersion", 2);
    manifest.put("mediaType", MediaTypes.OCI_MANIFEST);
    byte[] statement = "{\"_type\":\"https://in-toto.io/Statement/v0.1\"}".getBytes(StandardCharsets.UTF_8);
    byte[] config = ("{\"architecture\":\"unknown\",\"os\":\"unknown\",\"config\":{},\"rootfs\":"
        + "{\"type\":\"layers\",\"diff_ids\":[\"" + Digest.sha256(statement) + "\"]}}")
        .getBytes(StandardCharsets.UTF_8);
    manifest.set("config", descriptor(MediaTypes.OCI_CONFIG, writeBlob(dir, config)));
    manifest.putArray("layers").add(descriptor("application/vnd.in-toto+json", writeBlob(dir, statement)));
    ObjectNode att = descriptor(MediaTypes.OCI_MANIFEST, writeBlob(dir, ImageJson.write(manifest)));
    ObjectNode annotations = att.putObject("annotations");
    annotations.put("vnd.docker.reference.digest", subject);
    annotations.put("vnd.docker.reference.type", "attestation-manifest");
    ObjectNode platform = att.putObject("platform");
    platform.put("architecture", "unknown");
    platform.put("os", "unknown");
    ((ArrayNode) nested.get("manifests")).add(att);
    Files.delete(nestedPath);
    Blob newNested = writeBlob(dir, ImageJson.write(nested));
    entryDesc.put("digest", newNested.digest().toString());
    entryDesc.put("size", newNested.size());
    Files.write(dir.resolve("index.json"), ImageJson.write(index));
  }

  private static ObjectNode writeOciImage(Path dir, OciImage image) throws IOException {
    ObjectNode manifest = ImageJson.MAPPER.createObjectNode();
    manifest.put("schemaVersion", 2);
    manifest.put("mediaType", MediaTypes.OCI_MANIFEST);
    manifest.set("config", descriptor(MediaTypes.OCI_CONFIG,
        writeBlob(dir, config(image.tars(), image.architecture()))));
    ArrayNode layers = manifest.putArray("layers");
    for (byte[] tar : image.tars()) {
      layers.add(descriptor(MediaTypes.OCI_LAYER_GZIP, writeBlob(dir, gzip(tar))));
    }
    return descriptor(MediaTypes.OCI_MANIFEST, writeBlob(dir, ImageJson.write(manifest)));
  }

  private record Blob(Digest digest, long size) {}

  private static Blob writeBlob(Path dir, byte[] content) throws IOException {
    Digest d = Digest.sha256(content);
    Files.write(dir.resolve("blobs/sha256/" + d.hex()), content);
    return new Blob(d, content.length);
  }

  private static ObjectNode descriptor(String mediaType, Blob blob) {
    ObjectNode d = ImageJson.MAPPER.createObjectNode();
    d.put("mediaType", mediaType);
    d.put("digest", blob.digest().toString());
    d.put("size", blob.size());
    return d;
  }

  /** Tars a directory (an OCI layout into an OCI archive), directories first, names sorted. */
  public static void tarDirectory(Path dir, Path file) throws IOException {
    Map<String, byte[]> members = new LinkedHashMap<>();
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted().toList()) {
        if (p.equals(dir)) {
          continue;
        }
        String name = dir.relativize(p).toString().replace('\\', '/');
        members.put(Files.isDirectory(p) ? name + "/" : name, Files.isDirectory(p) ? null : Files.readAllBytes(p));
      }
    }
    writeTar(file, members);
  }

  /** Writes a tar of members; a null value is a directory. */
  public static void writeTar(Path file, Map<String, byte[]> members) throws IOException {
    try (TarWriter tar = new TarWriter(Files.newOutputStream(file))) {
      for (Map.Entry<String, byte[]> m : members.entrySet()) {
        if (m.getValue() == null) {
          tar.putEntry(TarEntry.of(m.getKey(), TarType.DIRECTORY, 0755, 0));
        } else {
          tar.putEntry(TarEntry.of(m.getKey(), TarType.REGULAR, 0644, m.getValue().length));
          tar.write(m.getValue(), 0, m.getValue().length);
        }
      }
    }
  }

  /** The regular files of a tar, by name, in archive order. */
  public static Map<String, byte[]> readTar(Path file) throws IOException {
    Map<String, byte[]> members = new LinkedHashMap<>();
    try (TarArchiveInputStream in = new TarArchiveInputStream(Files.newInputStream(file))) {
      for (TarArchiveEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
        members.put(e.getName(), e.isDirectory() ? null : in.readAllBytes());
      }
    }
    return members;
  }

  /** The member names of a (possibly compressed) layer blob. */
  public static List<String> layerNames(byte[] blob) throws IOException {
    List<String> names = new ArrayList<>();
    try (TarReader r = new TarReader(new ByteArrayInputStream(decompress(blob)))) {
      for (TarEntry e = r.next(); e != null; e = r.next()) {
        names.add(e.name());
      }
    }
    return names;
  }

  public static JsonNode json(byte[] bytes) throws IOException {
    return ImageJson.MAPPER.readTree(bytes);
  }
}
