package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.Podman;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.SampleImages;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.SquashCli;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Squashed docker-archives must load in real clients, docker 20.10 and podman, and give the same root filesystem
 * as the original image. Two variants of the sample image: one every client loads, and one with umoci's
 * "file, then whiteouts below it" layer shape that docker and podman refuse, which the squashed output must
 * no longer have.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ClientLoadTest {

  static final String LOADABLE = "squash-test/loadable:1";
  static final String UMOCI_SHAPE = "squash-test/umoci-shape:1";

  static Scratch work;
  static ImageBuilder loadable;
  static ImageBuilder umociShape;
  static Path loadableRef;
  static Path umociShapeRef;
  static Path loadableArchive;
  static Path loadableSquashed;
  static Path loadableKeep2;
  static Path umociShapeSquashed;
  static Path umociShapeKeep2;

  @BeforeAll
  static void buildAndSquash() {
    Env.squashJar();
    Env.requireRoot("dockerd and rootful podman");
    Env.requireTools("umoci", "skopeo", "dockerd", "docker", "podman", "tar", "getfattr");
    work = Scratch.create("clients");
    loadable = SampleImages.rich("loadable", false);
    loadableRef = loadable.unpack(work.resolve("loadable-ref"));
    SampleImages.checkRichReference(loadableRef);
    loadableArchive = loadable.toDockerArchive(work.resolve("loadable.tar"), LOADABLE);
    loadableSquashed = work.resolve("loadable-squashed.tar");
    SquashCli.squash(loadableArchive, loadableSquashed);
    loadableKeep2 = work.resolve("loadable-keep2.tar");
    SquashCli.squash(loadableArchive, loadableKeep2, "--keep-layers", "2");

    umociShape = SampleImages.rich("umoci-shape", true);
    umociShapeRef = umociShape.unpack(work.resolve("umoci-shape-ref"));
    SampleImages.checkRichReference(umociShapeRef);
    Path umociShapeArchive = umociShape.toDockerArchive(work.resolve("umoci-shape.tar"), UMOCI_SHAPE);
    umociShapeSquashed = work.resolve("umoci-shape-squashed.tar");
    SquashCli.squash(umociShapeArchive, umociShapeSquashed);
    // Keeping 2 layers, the squashed layer must hide the kept app/dir2file/ directory below a file.
    umociShapeKeep2 = work.resolve("umoci-shape-keep2.tar");
    SquashCli.squash(umociShapeArchive, umociShapeKeep2, "--keep-layers", "2");
  }

  @AfterAll
  static void cleanUp() {
    for (AutoCloseable c : new AutoCloseable[] {loadable, umociShape, work}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void dockerLoadsTheSquashedArchiveAndExportsTheSameRootfs() {
    try (Dockerd d = Dockerd.start()) {
      System.out.println("[dockerd] storage driver " + d.storageDriver());

      // The original, as docker sees it; and docker's own save format of it, to squash as well.
      d.docker("load", "-i", loadableArchive.toString());
      Path saved = work.resolve("docker-saved.tar");
      d.docker("save", "-o", saved.toString(), LOADABLE);
      Path original = d.exportRootfs(LOADABLE, work.resolve("docker-original"));
      d.docker("rmi", LOADABLE);

      // Squashed: loads under the same name, one layer, same tree, and still runs its entrypoint and cmd.
      String loaded = d.docker("load", "-i", loadableSquashed.toString()).output();
      assertTrue(loaded.contains("Loaded image: " + LOADABLE), loaded);
      assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", LOADABLE).stdout().strip());
      Path squashed = d.exportRootfs(LOADABLE, work.resolve("docker-squashed"));
      int compared = RootfsTree.assertIdentical(original, squashed, Dockerd.exportComparison());
      assertTrue(compared > 60, "compared only " + compared);
      assertEquals("hi", d.docker("run", "--rm", "--network", "none", LOADABLE).stdout().strip());
      // docker sees what umoci sees, security.capability included.
      RootfsTree.assertIdentical(loadableRef, squashed, Dockerd.exportComparison());
      d.docker("rmi", LOADABLE);

      // --keep-layers 2: three layers, same tree.
      d.docker("load", "-i", loadableKeep2.toString());
      assertEquals("3", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", LOADABLE).stdout().strip());
      RootfsTree.assertIdentical(original, d.exportRootfs(LOADABLE, work.resolve("docker-keep2")),
          Dockerd.exportComparison());
      d.docker("rmi", LOADABLE);

      // A `docker save` tarball as input.
      Path savedSquashed = work.resolve("docker-saved-squashed.tar");
      SquashCli.squash(saved, savedSquashed);
      d.docker("load", "-i", savedSquashed.toString());
      assertEquals("1", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", LOADABLE).stdout().strip());
      RootfsTree.assertIdentical(original, d.exportRootfs(LOADABLE, work.resolve("docker-saved-export")),
          Dockerd.exportComparison());

      // umoci's dir-replaced-by-file layer cannot be loaded as it is; squashed, it must load and be right.
      d.docker("load", "-i", umociShapeSquashed.toString());
      RootfsTree.assertIdentical(umociShapeRef, d.exportRootfs(UMOCI_SHAPE, work.resolve("docker-umoci-shape")),
          Dockerd.exportComparison());
      d.docker("rmi", UMOCI_SHAPE);
      d.docker("load", "-i", umociShapeKeep2.toString());
      assertEquals("3", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", UMOCI_SHAPE)
          .stdout().strip());
      RootfsTree.assertIdentical(umociShapeRef, d.exportRootfs(UMOCI_SHAPE, work.resolve("docker-umoci-keep2")),
          Dockerd.exportComparison());
    }
  }

  @Test
  void podmanLoadsAndMountsTheSquashedArchive() {
    try (Podman p = Podman.create()) {
      String name = p.load(loadableArchive);
      String originalId = p.podman("image", "inspect", "--format", "{{.Id}}", name).stdout().strip();
      Path original = p.mount(originalId);

      assertEquals(name, p.load(loadableSquashed), "the squashed image must load under the same name");
      String squashedId = p.podman("image", "inspect", "--format", "{{.Id}}", name).stdout().strip();
      assertNotEquals(originalId, squashedId);
      assertEquals("1", p.podman("image", "inspect", "--format", "{{len .RootFS.Layers}}", squashedId)
          .stdout().strip());
      Path squashed = p.mount(squashedId);
      // podman's vfs driver loses trusted.* xattrs when it copies a lower layer to apply the next one, so
      // the 6-layer original has none; leave that namespace out. Everything else must be identical.
      RootfsTree.Options noTrusted = RootfsTree.Options.exact().xattrs(n -> !n.startsWith("trusted."));
      int compared = RootfsTree.assertIdentical(original, squashed, noTrusted);
      assertTrue(compared > 60, "compared only " + compared);

      // ... and podman's view of the squashed image matches umoci's view of the original.
      RootfsTree.assertIdentical(loadableRef, squashed, noTrusted);

      String shape = p.load(umociShapeSquashed);
      RootfsTree.assertIdentical(umociShapeRef, p.mount(shape), noTrusted);
      String shapeKeep2 = p.load(umociShapeKeep2);
      String keep2Id = p.podman("image", "inspect", "--format", "{{.Id}}", shapeKeep2).stdout().strip();
      RootfsTree.assertIdentical(umociShapeRef, p.mount(keep2Id), noTrusted);
    }
  }

  @Test
  void skopeoCopiesTheSquashedArchiveToAnOciLayout() {
    Path layout = work.resolve("skopeo-layout");
    Skopeo.copy("docker-archive:" + loadableSquashed, "oci:" + layout + ":t");
    ImageArchive img = ImageArchive.open(layout);
    assertEquals(1, img.layers().size());
    ImageChecks.assertConsistent(img);
  }
}
