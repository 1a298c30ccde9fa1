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
import io.squashproxy.tests.support.Proc;
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
 * as the original image. Two variants of the sample image: one every client loads, and a hostile one with
 * layer shapes docker and podman refuse (umoci's "file, then whiteouts below it" for a directory replaced by a
 * file, and a hard link to a file of a lower layer), which the squashed output must no longer have, also when
 * layers are kept below it.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ClientLoadTest {

  static final String LOADABLE = "squash-test/loadable:1";
  static final String HOSTILE = "squash-test/hostile:1";

  static Scratch work;
  static ImageBuilder loadable;
  static ImageBuilder hostile;
  static Path loadableRef;
  static Path hostileRef;
  static Path loadableArchive;
  static Path loadableSquashed;
  static Path loadableKeep2;
  static Path hostileArchive;
  static Path hostileSquashed;
  static Path hostileKeep2;

  @BeforeAll
  static void buildAndSquash() {
    Env.squashJar();
    Env.requireRoot("dockerd and rootful podman");
    Env.requireTools("umoci", "skopeo", "dockerd", "docker", "podman", "tar", "getfattr");
    work = Scratch.create("clients");
    loadable = SampleImages.rich("loadable", false);
    loadableRef = loadable.unpack(work.resolve("loadable-ref"));
    SampleImages.checkRichReference(loadableRef, false);
    loadableArchive = loadable.toDockerArchive(work.resolve("loadable.tar"), LOADABLE);
    loadableSquashed = work.resolve("loadable-squashed.tar");
    SquashCli.squash(loadableArchive, loadableSquashed);
    loadableKeep2 = work.resolve("loadable-keep2.tar");
    SquashCli.squash(loadableArchive, loadableKeep2, "--keep-layers", "2");

    hostile = SampleImages.rich("hostile", true);
    hostileRef = hostile.unpack(work.resolve("hostile-ref"));
    SampleImages.checkRichReference(hostileRef, true);
    hostileArchive = hostile.toDockerArchive(work.resolve("hostile.tar"), HOSTILE);
    hostileSquashed = work.resolve("hostile-squashed.tar");
    SquashCli.squash(hostileArchive, hostileSquashed);
    // Keeping 2 layers, the squashed layer must hide the kept app/dir2file/ directory below a file, and
    // carry the target of app/raw/link-to-lower (app/keep, in the kept layer 1) for the link to be made.
    hostileKeep2 = work.resolve("hostile-keep2.tar");
    SquashCli.squash(hostileArchive, hostileKeep2, "--keep-layers", "2");
  }

  @AfterAll
  static void cleanUp() {
    for (AutoCloseable c : new AutoCloseable[] {loadable, hostile, work}) {
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

      // The hostile image cannot be loaded as it is; squashed, it must load and be right.
      Proc.Result refused = d.cli("load", "-i", hostileArchive.toString()).run();
      System.out.println("[dockerd] docker load of the hostile original: exit " + refused.exitCode() + ": "
          + refused.output().strip());
      d.docker("load", "-i", hostileSquashed.toString());
      RootfsTree.assertIdentical(hostileRef, d.exportRootfs(HOSTILE, work.resolve("docker-hostile")),
          Dockerd.exportComparison());
      d.docker("rmi", HOSTILE);
      d.docker("load", "-i", hostileKeep2.toString());
      assertEquals("3", d.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}", HOSTILE)
          .stdout().strip());
      RootfsTree.assertIdentical(hostileRef, d.exportRootfs(HOSTILE, work.resolve("docker-hostile-keep2")),
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

      String shape = p.load(hostileSquashed);
      RootfsTree.assertIdentical(hostileRef, p.mount(shape), noTrusted);
      String shapeKeep2 = p.load(hostileKeep2);
      String keep2Id = p.podman("image", "inspect", "--format", "{{.Id}}", shapeKeep2).stdout().strip();
      RootfsTree.assertIdentical(hostileRef, p.mount(keep2Id), noTrusted);
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
