package io.squashproxy.tests.support;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Builds OCI images without any daemon, with umoci: {@code init}/{@code new}, then per layer
 * {@code unpack} (when needed), a change to {@code bundle/rootfs}, {@code repack --refresh-bundle}; hand-written
 * layers (opaque markers, binary xattrs) go in with {@code umoci raw add-layer}. The result can be copied
 * anywhere with skopeo. Deletions in umoci layers become per-entry {@code .wh.} whiteouts.
 */
public final class ImageBuilder implements AutoCloseable {

  private final Scratch scratch;
  private final Path layout;
  private final String tag;
  private Path bundle;
  private int layers;
  private int rawLayers;

  private ImageBuilder(Scratch scratch, String tag) {
    this.scratch = scratch;
    this.layout = scratch.resolve("layout");
    this.tag = tag;
  }

  public static ImageBuilder create(String tag) {
    Env.requireRoot("umoci unpack/repack keeping owners, devices and security.capability");
    Env.requireTools("umoci", "skopeo");
    ImageBuilder b = new ImageBuilder(Scratch.create("img"), tag);
    try {
      umoci("init", "--layout", b.layout.toString());
      umoci("new", "--image", b.ref());
      return b;
    } catch (RuntimeException | Error e) {
      b.close();
      throw e;
    }
  }

  /**
   * A new image that starts as {@code base} (its layers byte-identical, copied with skopeo), so that images
   * built from it share those layers as images built {@code FROM} one base do.
   */
  public static ImageBuilder from(ImageBuilder base, String tag) {
    ImageBuilder b = new ImageBuilder(Scratch.create("img"), tag);
    try {
      Skopeo.copy(base.skopeoRef(), b.skopeoRef());
      b.layers = base.layers;
      return b;
    } catch (RuntimeException | Error e) {
      b.close();
      throw e;
    }
  }

  private static Proc.Result umoci(String... args) {
    List<String> cmd = new ArrayList<>(List.of("umoci"));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).timeout(Duration.ofMinutes(5)).ok();
  }

  /** {@code LAYOUT:TAG}, as umoci names it. */
  public String ref() {
    return layout + ":" + tag;
  }

  /** {@code oci:LAYOUT:TAG}, as skopeo names it. */
  public String skopeoRef() {
    return "oci:" + ref();
  }

  public Path layout() {
    return layout;
  }

  public String tag() {
    return tag;
  }

  public int layerCount() {
    return layers;
  }

  /** A layer made by running {@code sh -euc SCRIPT} in the unpacked rootfs. */
  public ImageBuilder layer(String description, String script) {
    return layer(description, rootfs -> Proc.sh(script).dir(rootfs).ok());
  }

  /** A layer made by changing the unpacked rootfs in Java. */
  public ImageBuilder layer(String description, Consumer<Path> change) {
    Path b = bundle();
    change.accept(b.resolve("rootfs"));
    umoci("repack", "--image", ref(), "--refresh-bundle", "--history.created_by", description, b.toString());
    layers++;
    return this;
  }

  /** A hand-written layer tar, added as it is with {@code umoci raw add-layer}. */
  public ImageBuilder rawLayer(String description, Consumer<LayerTar> entries) {
    Path tar = scratch.resolve("raw-" + (++rawLayers) + ".tar");
    try (LayerTar t = LayerTar.create(tar)) {
      entries.accept(t);
    }
    umoci("raw", "add-layer", "--image", ref(), "--history.created_by", description, tar.toString());
    layers++;
    staleBundle();
    return this;
  }

  /** {@code umoci config --image LAYOUT:TAG ARGS} (e.g. {@code --config.env}, {@code --config.cmd}). */
  public ImageBuilder config(String... args) {
    List<String> cmd = new ArrayList<>(List.of("config", "--image", ref()));
    cmd.addAll(Arrays.asList(args));
    umoci(cmd.toArray(new String[0]));
    staleBundle();
    return this;
  }

  private Path bundle() {
    if (bundle == null) {
      bundle = scratch.resolve("bundle-" + System.nanoTime());
      umoci("unpack", "--image", ref(), bundle.toString());
    }
    return bundle;
  }

  /** umoci repacks on top of the manifest a bundle came from, so after other changes unpack again. */
  private void staleBundle() {
    if (bundle != null) {
      Scratch.delete(bundle);
      bundle = null;
    }
  }

  /** {@code skopeo copy} to a docker-archive tar (what {@code docker save} makes; layers uncompressed). */
  public Path toDockerArchive(Path out, String repoTag) {
    Skopeo.copy(skopeoRef(), "docker-archive:" + out + ":" + repoTag);
    return out;
  }

  /** {@code skopeo copy} to an OCI archive tar. */
  public Path toOciArchive(Path out) {
    Skopeo.copy(skopeoRef(), "oci-archive:" + out + ":" + tag);
    return out;
  }

  /** {@code skopeo copy} to a new OCI layout directory with the same tag. */
  public Path toOciLayout(Path dir) {
    Skopeo.copy(skopeoRef(), "oci:" + dir + ":" + tag);
    return dir;
  }

  /** The reference root filesystem: {@code umoci unpack} of the built image into {@code bundle}. */
  public Path unpack(Path bundleDir) {
    return Skopeo.umociUnpack(layout, tag, bundleDir);
  }

  @Override
  public void close() {
    scratch.close();
  }
}
