package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.SquashCli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The classic bloated image, built with umoci: a base layer, a layer adding a 64 MiB random file, a layer
 * deleting it. Squashed, the archive must shrink by at least the compressed size of that file.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BloatedImageTest {

  static final int BIG = 64 << 20;

  @Test
  void squashingDropsTheBytesOfADeletedFile() throws IOException {
    Env.squashJar();
    Env.requireTools("umoci", "skopeo", "getfattr");
    try (Scratch work = Scratch.create("bloated"); ImageBuilder image = ImageBuilder.create("bloated")) {
      // A small base, so the comparison is about the deleted file and not about gzip levels.
      image.layer("base", String.join("\n",
          "mkdir -p etc data app",
          "printf 'root:x:0:0:root:/root:/bin/sh\\n' > etc/passwd",
          "for i in 1 2 3 4 5 6 7 8; do echo \"config $i\" > app/file$i.conf; done"));
      image.layer("add a 64 MiB file", rootfs -> FaultsTestSupport.writeRandom(rootfs.resolve("data/big.bin"), BIG, 42));
      image.layer("delete it", "rm data/big.bin");

      ImageArchive layout = ImageArchive.open(image.layout());
      assertEquals(3, layout.layers().size());
      long bigBlob = layout.layers().get(1).size();
      assertTrue(bigBlob > BIG, "random data should not compress: " + bigBlob);

      Path reference = image.unpack(work.resolve("reference"));
      assertFalse(Files.exists(reference.resolve("data/big.bin")));
      assertTrue(Files.exists(reference.resolve("app/file8.conf")));

      // OCI archive in (umoci's gzip blobs), gzip out.
      Path ociIn = image.toOciArchive(work.resolve("bloated-oci.tar"));
      Path ociOut = work.resolve("squashed-oci.tar");
      SquashCli.squash(ociIn, ociOut, "--compression", "gzip");
      long ociSaved = Files.size(ociIn) - Files.size(ociOut);
      System.out.printf("[bloated] OCI archive %d -> %d bytes, saved %d; the 64 MiB file's gzip blob is %d%n",
          Files.size(ociIn), Files.size(ociOut), ociSaved, bigBlob);
      assertTrue(ociSaved >= bigBlob, "saved " + ociSaved + " bytes, less than the deleted file's blob " + bigBlob);
      ImageArchive sq = ImageArchive.open(ociOut);
      assertEquals(1, sq.layers().size());
      assertEquals("gzip", ImageChecks.compressionOf(sq, 0));
      ImageChecks.assertConsistent(sq);
      RootfsTree.assertIdentical(reference, Skopeo.unpack("oci-archive:" + ociOut, work.resolve("u-oci")),
          RootfsTree.Options.exact());

      // docker-archive in (uncompressed layers), gzip out.
      Path dockerIn = image.toDockerArchive(work.resolve("bloated-docker.tar"), "squash-test/bloated:1");
      Path dockerOut = work.resolve("squashed-docker.tar");
      SquashCli.squash(dockerIn, dockerOut, "--compression", "gzip");
      long dockerSaved = Files.size(dockerIn) - Files.size(dockerOut);
      System.out.printf("[bloated] docker-archive %d -> %d bytes, saved %d%n", Files.size(dockerIn),
          Files.size(dockerOut), dockerSaved);
      assertTrue(dockerSaved >= bigBlob, "saved " + dockerSaved + " bytes, less than " + bigBlob);
      RootfsTree.assertIdentical(reference, Skopeo.unpack("docker-archive:" + dockerOut, work.resolve("u-docker")),
          RootfsTree.Options.exact());
    }
  }
}
