package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.SampleImages;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.SquashCli;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A multi-layer image built with umoci (whiteouts, a recreated dir, an opaque dir, hard links, symlinks, setuid,
 * devices, security.capability and other xattrs) squashed from each input format; the squashed image's root
 * filesystem, unpacked by umoci, must equal the original's exactly.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class UmociImageSquashTest {

  static final String REPO_TAG = "squash-test/rich:1";

  static Scratch work;
  static ImageBuilder image;
  static Path reference;
  static Path dockerArchive;
  static Path ociArchive;
  static Path ociLayout;
  static ImageArchive original;
  static final AtomicInteger runs = new AtomicInteger();

  @BeforeAll
  static void buildImage() {
    Env.squashJar();
    Env.requireTools("umoci", "skopeo", "getfattr", "setcap", "setfattr", "tar");
    work = Scratch.create("umoci-e2e");
    image = SampleImages.rich("rich");
    reference = image.unpack(work.resolve("reference"));
    SampleImages.checkRichReference(reference, true);
    dockerArchive = image.toDockerArchive(work.resolve("original-docker.tar"), REPO_TAG);
    ociArchive = image.toOciArchive(work.resolve("original-oci.tar"));
    ociLayout = image.toOciLayout(work.resolve("original-layout"));
    original = ImageArchive.open(dockerArchive);
    assertEquals(5, original.layers().size(), "the sample image should have 5 layers");
  }

  @AfterAll
  static void cleanUp() {
    if (image != null) {
      image.close();
    }
    if (work != null) {
      work.close();
    }
  }

  private static Path fresh(String name) {
    return work.resolve(name + "-" + runs.incrementAndGet());
  }

  private static void assertSameRootfs(Path rootfs) {
    int compared = RootfsTree.assertIdentical(reference, rootfs, RootfsTree.Options.exact());
    assertTrue(compared > 60, "compared only " + compared + " paths");
  }

  private static void assertSameRuntimeConfig(ImageArchive squashed) {
    assertEquals(original.config().get("config"), squashed.config().get("config"),
        "the runtime config (env, cmd, entrypoint, user, working dir, labels) must survive");
    assertEquals(original.config().get("architecture"), squashed.config().get("architecture"));
    assertEquals(original.config().get("os"), squashed.config().get("os"));
  }

  @Test
  void dockerArchiveSquashesToOneUncompressedLayerWithTheSameRootfs() {
    Path out = fresh("squashed-docker.tar");
    SquashCli.squash(dockerArchive, out);

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(ImageArchive.Format.DOCKER_ARCHIVE, sq.format());
    assertEquals(1, sq.layers().size());
    assertEquals("tar", ImageChecks.compressionOf(sq, 0), "docker-archive layers are uncompressed by default");
    ImageChecks.assertConsistent(sq);
    assertSameRuntimeConfig(sq);
    assertEquals(original.manifest().get("RepoTags"), sq.manifest().get("RepoTags"),
        "the repo:tag must survive, or docker load gives an untagged image");

    assertSameRootfs(Skopeo.unpack("docker-archive:" + out, fresh("unpack")));
  }

  @Test
  void ociArchiveSquashesToOneLayerWithTheSameRootfs() {
    Path out = fresh("squashed-oci.tar");
    SquashCli.squash(ociArchive, out);

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(ImageArchive.Format.OCI_ARCHIVE, sq.format());
    assertEquals(1, sq.layers().size());
    ImageChecks.assertConsistent(sq);
    assertSameRuntimeConfig(sq);

    assertSameRootfs(Skopeo.unpack("oci-archive:" + out, fresh("unpack")));
  }

  @Test
  void ociLayoutSquashesToALayoutThatUmociUnpacksDirectly() {
    Path out = fresh("squashed-layout");
    SquashCli.squash(ociLayout, out);

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(ImageArchive.Format.OCI_LAYOUT, sq.format());
    assertEquals(1, sq.layers().size());
    ImageChecks.assertConsistent(sq);
    assertSameRuntimeConfig(sq);
    assertEquals("rich", Skopeo.refName(out), "the layout's tag (ref.name annotation) must survive");

    // umoci reads the squashed layout as written, no conversion in between.
    assertSameRootfs(Skopeo.umociUnpack(out, "rich", fresh("bundle")));
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 3})
  void keepLayersKeepsTheBaseLayersAsTheyAreInADockerArchive(int keep) {
    Path out = fresh("squashed-keep" + keep + ".tar");
    SquashCli.squash(dockerArchive, out, "--keep-layers", Integer.toString(keep));

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(keep + 1, sq.layers().size());
    ImageChecks.assertConsistent(sq);
    assertEquals(ImageChecks.diffIds(original, keep), ImageChecks.diffIds(sq, keep),
        "kept layers must be byte-identical so they stay shared with other images");
    assertSameRuntimeConfig(sq);

    assertSameRootfs(Skopeo.unpack("docker-archive:" + out, fresh("unpack")));
  }

  @Test
  void keepLayersKeepsTheBaseBlobsInAnOciArchive() {
    ImageArchive orig = ImageArchive.open(ociArchive);
    Path out = fresh("squashed-keep2-oci.tar");
    SquashCli.squash(ociArchive, out, "--keep-layers", "2");

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(3, sq.layers().size());
    ImageChecks.assertConsistent(sq);
    for (int i = 0; i < 2; i++) {
      assertEquals(orig.layers().get(i).digest(), sq.layers().get(i).digest(), "kept blob " + i);
    }
    assertSameRootfs(Skopeo.unpack("oci-archive:" + out, fresh("unpack")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "gzip:9", "zstd", "zstd:19", "none"})
  void everyCompressionGivesTheSameRootfs(String compression) {
    Path out = fresh("squashed-" + compression.replace(':', '-') + ".tar");
    SquashCli.squash(ociArchive, out, "--compression", compression);

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(1, sq.layers().size());
    String expected = compression.startsWith("none") ? "tar" : compression.replaceAll(":.*", "");
    assertEquals(expected, ImageChecks.compressionOf(sq, 0));
    ImageChecks.assertConsistent(sq);

    // umoci 0.4.7 cannot read zstd layers: let skopeo recompress those to gzip on the way.
    Path rootfs = expected.equals("zstd")
        ? Skopeo.unpackRecompressed("oci-archive:" + out, fresh("unpack"))
        : Skopeo.unpack("oci-archive:" + out, fresh("unpack"));
    assertSameRootfs(rootfs);
  }

  @Test
  void gzipLayersInADockerArchiveGiveTheSameRootfs() {
    Path out = fresh("squashed-docker-gzip.tar");
    SquashCli.squash(dockerArchive, out, "--compression", "gzip");

    ImageArchive sq = ImageArchive.open(out);
    assertEquals(1, sq.layers().size());
    assertEquals("gzip", ImageChecks.compressionOf(sq, 0));
    ImageChecks.assertConsistent(sq);
    assertSameRootfs(Skopeo.unpack("docker-archive:" + out, fresh("unpack")));
  }
}
