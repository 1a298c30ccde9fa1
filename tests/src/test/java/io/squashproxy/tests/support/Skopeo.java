package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** skopeo and umoci steps: copying between transports, and the reference unpacking of an image. */
public final class Skopeo {

  private Skopeo() {}

  /** {@code skopeo copy [extra] SRC DST}; plain http for docker:// references (127.0.0.1 only). */
  public static Proc.Result copy(String src, String dst, String... extra) {
    Env.requireTools("skopeo");
    List<String> cmd = new ArrayList<>(List.of("skopeo", "--insecure-policy", "copy", "--quiet"));
    if (src.startsWith("docker://")) {
      cmd.add("--src-tls-verify=false");
    }
    if (dst.startsWith("docker://")) {
      cmd.add("--dest-tls-verify=false");
    }
    cmd.addAll(Arrays.asList(extra));
    cmd.add(src);
    cmd.add(dst);
    return Proc.of(cmd).timeout(Duration.ofMinutes(5)).ok();
  }

  /** {@code skopeo inspect --raw REF}, parsed. */
  public static JsonNode inspectRaw(String ref) {
    Env.requireTools("skopeo");
    List<String> cmd = new ArrayList<>(List.of("skopeo", "--insecure-policy", "inspect", "--raw"));
    if (ref.startsWith("docker://")) {
      cmd.add("--tls-verify=false");
    }
    cmd.add(ref);
    try {
      return ImageArchive.JSON.readTree(Proc.of(cmd).ok().stdout());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The root filesystem of any image skopeo can read: {@code skopeo copy REF oci:WORK/layout:img}, then
   * {@code umoci unpack} (which honours both whiteout forms). Returns the rootfs directory.
   */
  public static Path unpack(String ref, Path work) {
    Path layout = mkdirs(work).resolve("layout");
    copy(ref, "oci:" + layout + ":img");
    return umociUnpack(layout, "img", work.resolve("bundle"));
  }

  /** As {@link #unpack}, with skopeo recompressing every layer to gzip (umoci 0.4.7 cannot read zstd). */
  public static Path unpackRecompressed(String ref, Path work) {
    Path layout = mkdirs(work).resolve("layout");
    copy(ref, "oci:" + layout + ":img", "--dest-compress", "--dest-compress-format", "gzip");
    return umociUnpack(layout, "img", work.resolve("bundle"));
  }

  private static Path mkdirs(Path dir) {
    try {
      return Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code umoci unpack --image LAYOUT:TAG BUNDLE}; returns BUNDLE/rootfs. */
  public static Path umociUnpack(Path layout, String tag, Path bundle) {
    Env.requireTools("umoci");
    Proc.of("umoci", "unpack", "--image", layout + ":" + tag, bundle.toString())
        .timeout(Duration.ofMinutes(5)).ok();
    Path rootfs = bundle.resolve("rootfs");
    if (!Files.isDirectory(rootfs)) {
      throw new AssertionError("umoci unpack made no rootfs in " + bundle);
    }
    return rootfs;
  }

  /** The {@code org.opencontainers.image.ref.name} of the single manifest in an OCI layout, or null. */
  public static String refName(Path layout) {
    try {
      JsonNode index = ImageArchive.JSON.readTree(layout.resolve("index.json").toFile());
      JsonNode ann = index.path("manifests").path(0).path("annotations");
      return ann.has("org.opencontainers.image.ref.name")
          ? ann.get("org.opencontainers.image.ref.name").asText() : null;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
