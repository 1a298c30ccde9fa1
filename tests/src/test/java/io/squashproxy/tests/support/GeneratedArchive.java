package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.tests.support.LayerTar.Entry;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes a docker-archive (the {@code docker save} layout: {@code ID/layer.tar}, a config named by its digest,
 * {@code manifest.json}) straight from Java, streaming: big layers of incompressible data never sit in memory
 * or in temporary files. Each layer's diff_id is computed as it is written.
 */
public final class GeneratedArchive {

  private GeneratedArchive() {}

  /**
   * Seeded pseudo-random content (incompressible). It is never stored: the same seed regenerates it, to
   * check a copy byte for byte with {@link #mismatch}.
   */
  public static final class RandomContent implements LayerTar.Content {
    private final long size;
    private final long seed;

    public RandomContent(long size, long seed) {
      this.size = size;
      this.seed = seed;
    }

    @Override
    public long size() {
      return size;
    }

    @Override
    public void writeTo(OutputStream out) throws IOException {
      Generator g = new Generator(seed);
      long left = size;
      while (left > 0) {
        byte[] b = g.next();
        int n = (int) Math.min(left, b.length);
        out.write(b, 0, n);
        left -= n;
      }
    }

    /**
     * Reads {@code in} to its end and compares it with this content: -1 when identical, else the offset of the
     * first difference (or of the end of the shorter one).
     */
    public long mismatch(java.io.InputStream in) throws IOException {
      Generator g = new Generator(seed);
      byte[] actual = new byte[CHUNK];
      long off = 0;
      while (off < size) {
        byte[] expected = g.next();
        int n = (int) Math.min(size - off, CHUNK);
        int got = in.readNBytes(actual, 0, n);
        int m = java.util.Arrays.mismatch(expected, 0, got, actual, 0, got);
        if (m >= 0) {
          return off + m;
        }
        if (got < n) {
          return off + got;
        }
        off += n;
      }
      return in.read() < 0 ? -1 : size;
    }
  }

  private static final int CHUNK = 1 << 20;

  /** Fills 1 MiB chunks from a seeded SplittableRandom. */
  private static final class Generator {
    private final SplittableRandom rnd;
    private final ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);

    Generator(long seed) {
      this.rnd = new SplittableRandom(seed);
    }

    byte[] next() {
      buf.clear();
      while (buf.hasRemaining()) {
        buf.putLong(rnd.nextLong());
      }
      return buf.array();
    }
  }

  /** Writes the archive; returns the layers' diff_ids. */
  public static List<String> write(Path out, String repoTag, List<List<Entry>> layers) {
    List<String> diffIds = new ArrayList<>();
    List<String> layerPaths = new ArrayList<>();
    try (OutputStream file = new BufferedOutputStream(Files.newOutputStream(out), 1 << 20)) {
      LayerTar outer = new LayerTar(file);
      for (int i = 0; i < layers.size(); i++) {
        List<Entry> entries = layers.get(i);
        long size = LayerTar.measure(entries);
        String id = HexFormat.of().formatHex(RootfsTree.sha256().digest(("layer-" + i).getBytes()));
        String path = id + "/layer.tar";
        MessageDigest md = RootfsTree.sha256();
        outer.add(Entry.dir(id + "/"));
        outer.add(Entry.file(path, new LayerTar.Content() {
          @Override
          public long size() {
            return size;
          }

          @Override
          public void writeTo(OutputStream o) {
            LayerTar inner = new LayerTar(new java.security.DigestOutputStream(o, md));
            for (Entry e : entries) {
              inner.add(e);
            }
            inner.finish();
          }
        }));
        diffIds.add("sha256:" + HexFormat.of().formatHex(md.digest()));
        layerPaths.add(path);
      }
      ObjectNode config = ImageArchive.JSON.createObjectNode();
      config.put("architecture", "amd64");
      config.put("os", "linux");
      config.put("created", "2024-01-01T00:00:00Z");
      config.putObject("config").putArray("Cmd").add("/bin/sh");
      ObjectNode rootfs = config.putObject("rootfs");
      rootfs.put("type", "layers");
      ArrayNode ids = rootfs.putArray("diff_ids");
      diffIds.forEach(ids::add);
      ArrayNode history = config.putArray("history");
      for (int i = 0; i < layers.size(); i++) {
        history.addObject().put("created", "2024-01-01T00:00:00Z").put("created_by", "generated layer " + i);
      }
      byte[] configBytes = ImageArchive.JSON.writeValueAsBytes(config);
      String configName = HexFormat.of().formatHex(RootfsTree.sha256().digest(configBytes)) + ".json";
      outer.add(Entry.file(configName, configBytes));
      ArrayNode manifest = ImageArchive.JSON.createArrayNode();
      ObjectNode m = manifest.addObject();
      m.put("Config", configName);
      m.putArray("RepoTags").add(repoTag);
      ArrayNode ls = m.putArray("Layers");
      layerPaths.forEach(ls::add);
      outer.add(Entry.file("manifest.json", ImageArchive.JSON.writeValueAsBytes(manifest)));
      outer.finish();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return diffIds;
  }
}
