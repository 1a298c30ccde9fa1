package io.squashproxy.tests.support;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.tests.support.GeneratedArchive.RandomContent;
import io.squashproxy.tests.support.LayerTar.Entry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A realistic image for the squash benchmarks, as OCI blobs in a directory: a debootstrap Debian bookworm
 * minbase rootfs, a layer adding packages' worth of files (the host's Python and Perl libraries), a layer of
 * generated data (incompressible and text-like), and a clean-up layer that empties the apt lists (opaque
 * marker), deletes a directory and a big file and overwrites others. About 400 MB of layer tars.
 *
 * <p>The debootstrap rootfs is cached as a tar in {@code /var/tmp/squash-bench-cache/bookworm-minbase.tar}
 * (override with {@code -Dbench.cache=DIR}); the first run builds it (root, debootstrap and network, ~1-2 min),
 * later runs reuse it. Delete the file to rebuild.
 */
public final class BenchImage {
  static final long MIB = 1L << 20;

  private final Path blobs;
  private final byte[] manifest;
  private final long layerTarBytes;

  private BenchImage(Path blobs, byte[] manifest, long layerTarBytes) {
    this.blobs = blobs;
    this.manifest = manifest;
    this.layerTarBytes = layerTarBytes;
  }

  public byte[] manifest() {
    return manifest;
  }

  /** Sum of the uncompressed layer tars. */
  public long layerTarBytes() {
    return layerTarBytes;
  }

  public BlobSource blobSource() {
    return d -> Files.newInputStream(blobs.resolve(d.hex()));
  }

  /** The cached debootstrap rootfs tar, built on first use. */
  public static Path debianBase() {
    Path cache = Path.of(System.getProperty("bench.cache", "/var/tmp/squash-bench-cache"));
    Path tar = cache.resolve("bookworm-minbase.tar");
    if (Files.isRegularFile(tar)) {
      return tar;
    }
    Env.requireRoot("debootstrap needs root");
    Env.requireTools("debootstrap");
    try {
      Files.createDirectories(cache);
      Path build = Files.createTempDirectory(cache, "build-");
      try {
        Path rootfs = build.resolve("rootfs");
        Proc.of("debootstrap", "--variant=minbase", "bookworm", rootfs.toString(), "http://deb.debian.org/debian")
            .timeout(Duration.ofMinutes(15)).ok();
        Proc.sh("rm -f '" + rootfs + "'/var/cache/apt/archives/*.deb").ok();
        Path part = build.resolve("base.tar");
        Proc.of("tar", "--numeric-owner", "-C", rootfs.toString(), "-cf", part.toString(), ".")
            .timeout(Duration.ofMinutes(5)).ok();
        Files.move(part, tar);
      } finally {
        Scratch.delete(build);
      }
      return tar;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Builds the image's blobs under {@code dir}. Needs tar and pigz. */
  public static BenchImage build(Path dir) throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs"));
    Path tars = Files.createDirectories(dir.resolve("tars"));
    List<Path> layers = new ArrayList<>();
    layers.add(debianBase());

    Path packages = tars.resolve("packages.tar");
    List<String> cmd = new ArrayList<>(List.of("tar", "--numeric-owner", "-C", "/", "-cf", packages.toString()));
    for (String p : List.of("usr/lib/python3", "usr/lib/python3.11", "usr/share/perl", "usr/share/perl5")) {
      if (Files.isDirectory(Path.of("/", p))) {
        cmd.add(p);
      }
    }
    Proc.of(cmd).timeout(Duration.ofMinutes(5)).ok();
    layers.add(packages);

    Path data = tars.resolve("data.tar");
    try (LayerTar t = LayerTar.create(data)) {
      t.add(Entry.dir("opt/")).add(Entry.dir("opt/data/"));
      for (int i = 0; i < 4; i++) {
        t.add(Entry.file("opt/data/random-" + i, new RandomContent(16 * MIB, 100 + i)));
        t.add(Entry.file("opt/data/text-" + i, new TextContent(8 * MIB, 200 + i)));
      }
    }
    layers.add(data);

    Path cleanup = tars.resolve("cleanup.tar");
    try (LayerTar t = LayerTar.create(cleanup)) {
      t.add(Entry.opaque("var/lib/apt/lists"));
      t.add(Entry.whiteout("usr/share/perl"));
      t.add(Entry.whiteout("opt/data/random-1"));
      t.add(Entry.file("opt/data/random-2", new RandomContent(8 * MIB, 300)));
      t.add(Entry.file("opt/data/text-3", new TextContent(2 * MIB, 301)));
      t.add(Entry.file("etc/motd", "squashed for the benchmark\n"));
      t.add(Entry.file("etc/app.conf", new TextContent(64 * 1024, 302)).mode(0600));
    }
    layers.add(cleanup);

    StringBuilder manifestLayers = new StringBuilder();
    StringBuilder diffIds = new StringBuilder();
    long total = 0;
    for (Path tar : layers) {
      total += Files.size(tar);
      Digest diffId = sha256(tar);
      Path gz = tars.resolve("layer.gz");
      Proc.sh("pigz -6 -c '" + tar + "' > '" + gz + "'").timeout(Duration.ofMinutes(5)).ok();
      Digest blob = sha256(gz);
      long size = Files.size(gz);
      Files.move(gz, blobs.resolve(blob.hex()));
      manifestLayers.append(manifestLayers.isEmpty() ? "" : ",").append(
          "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + blob + "\",\"size\":"
              + size + "}");
      diffIds.append(diffIds.isEmpty() ? "" : ",").append('"').append(diffId).append('"');
      if (!tar.equals(layers.get(0))) {
        Files.delete(tar);
      }
    }
    byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/bash\"]},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]},\"history\":[]}")
        .getBytes(StandardCharsets.UTF_8);
    Digest configDigest = Digest.sha256(config);
    Files.write(blobs.resolve(configDigest.hex()), config);
    byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + configDigest
        + "\",\"size\":" + config.length + "},\"layers\":[" + manifestLayers + "]}")
        .getBytes(StandardCharsets.UTF_8);
    return new BenchImage(blobs, manifest, total);
  }

  static Digest sha256(Path file) throws IOException {
    MessageDigest md = Digest.newMessageDigest(Digest.SHA256);
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
      in.transferTo(OutputStream.nullOutputStream());
    }
    return Digest.parse("sha256:" + HexFormat.of().formatHex(md.digest()));
  }

  /** Seeded text-like content (words and numbers in lines): compresses about 3:1 with gzip -6. */
  public static final class TextContent implements LayerTar.Content {
    private static final String[] WORDS = ("the of and to in is for with on that this from by as are be it or "
        + "package version depends description install usr lib share doc bin etc config python perl module "
        + "import return def class self none true false error warning info debug amd64 bookworm debian")
        .split(" ");
    private final long size;
    private final long seed;

    public TextContent(long size, long seed) {
      this.size = size;
      this.seed = seed;
    }

    @Override
    public long size() {
      return size;
    }

    @Override
    public void writeTo(OutputStream out) throws IOException {
      SplittableRandom r = new SplittableRandom(seed);
      byte[] buf = new byte[1 << 16];
      long left = size;
      int n = 0;
      while (left > 0) {
        String piece = r.nextInt(12) == 0 ? Integer.toHexString(r.nextInt()) + "\n"
            : WORDS[r.nextInt(WORDS.length)] + " ";
        for (int i = 0; i < piece.length() && left > 0; i++, left--) {
          buf[n++] = (byte) piece.charAt(i);
          if (n == buf.length) {
            out.write(buf, 0, n);
            n = 0;
          }
        }
      }
      out.write(buf, 0, n);
    }
  }
}
