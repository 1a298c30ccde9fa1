package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ImageChecks;
import io.squashproxy.tests.support.RegistryFetch;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.SampleImages;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import io.squashproxy.tests.support.SquashCli;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Registry-shaped images: pushed to a real Distribution registry with skopeo (gzip layers, Docker schema2 or
 * OCI media types), pulled back as a docker-archive, an OCI archive, and byte for byte into an OCI layout that
 * keeps the registry's manifest; each squashed must give the original root filesystem. The squashed image is
 * pushed back and pulled again, which makes the registry check its digests and sizes.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class RegistryRoundTripTest {

  static Scratch work;
  static ImageBuilder image;
  static Path reference;
  static DistributionRegistry registry;

  @BeforeAll
  static void setUp() {
    Env.squashJar();
    Env.requireTools("docker-registry", "umoci", "skopeo", "getfattr");
    work = Scratch.create("registry");
    image = SampleImages.rich("rich");
    reference = image.unpack(work.resolve("reference"));
    SampleImages.checkRichReference(reference, true);
    registry = DistributionRegistry.start();
  }

  @AfterAll
  static void tearDown() {
    try {
      if (registry != null) {
        registry.close();
      }
    } finally {
      if (image != null) {
        image.close();
      }
      if (work != null) {
        work.close();
      }
    }
  }

  private static void assertSameRootfs(Path rootfs) {
    int compared = RootfsTree.assertIdentical(reference, rootfs, RootfsTree.Options.exact());
    assertTrue(compared > 60, "compared only " + compared);
  }

  @ParameterizedTest
  @ValueSource(strings = {"v2s2", "oci"})
  void imagesPulledFromARegistrySquashToTheSameRootfs(String format) {
    boolean docker = format.equals("v2s2");
    String repo = "squash-test/rich-" + format;
    String ref = registry.ref(repo + ":1");
    Path dir = work.dir(format);
    Skopeo.copy(image.skopeoRef(), ref, "--format", format);

    JsonNode manifest = Skopeo.inspectRaw(ref);
    assertEquals(docker ? "application/vnd.docker.distribution.manifest.v2+json"
        : "application/vnd.oci.image.manifest.v1+json", manifest.path("mediaType").asText(
            "application/vnd.oci.image.manifest.v1+json"));
    assertEquals(5, manifest.get("layers").size());
    for (JsonNode l : manifest.get("layers")) {
      assertEquals(docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
          : "application/vnd.oci.image.layer.v1.tar+gzip", l.get("mediaType").asText());
    }

    // Pulled as a docker-archive (what `docker save` gives).
    Path pulledDocker = dir.resolve("pulled-docker.tar");
    Skopeo.copy(ref, "docker-archive:" + pulledDocker + ":" + repo + ":1");
    Path squashedDocker = dir.resolve("squashed-docker.tar");
    SquashCli.squash(pulledDocker, squashedDocker);
    assertEquals(1, ImageArchive.open(squashedDocker).layers().size());
    assertSameRootfs(Skopeo.unpack("docker-archive:" + squashedDocker, dir.resolve("u-docker")));

    // Pulled as an OCI archive: the registry's gzip blobs, unchanged.
    Path pulledOci = dir.resolve("pulled-oci.tar");
    Skopeo.copy(ref, "oci-archive:" + pulledOci + ":1");
    for (int i = 0; i < 5; i++) {
      assertEquals(manifest.get("layers").get(i).get("digest").asText(),
          ImageArchive.open(pulledOci).layers().get(i).digest());
    }
    Path squashedOci = dir.resolve("squashed-oci.tar");
    SquashCli.squash(pulledOci, squashedOci);
    ImageArchive sqOci = ImageArchive.open(squashedOci);
    assertEquals(1, sqOci.layers().size());
    ImageChecks.assertConsistent(sqOci);
    assertSameRootfs(Skopeo.unpack("oci-archive:" + squashedOci, dir.resolve("u-oci")));

    // The registry's own manifest (Docker media types for v2s2) in an OCI layout, as crane writes it.
    Path fetched = RegistryFetch.toLayout(registry, repo, "1", dir.resolve("fetched-layout"));
    assertEquals(manifest, ImageArchive.open(fetched).manifest());
    Path squashedLayout = dir.resolve("squashed-layout");
    SquashCli.squash(fetched, squashedLayout);
    ImageArchive sqLayout = ImageArchive.open(squashedLayout);
    assertEquals(1, sqLayout.layers().size());
    ImageChecks.assertConsistent(sqLayout);
    assertSameRootfs(Skopeo.unpack("oci:" + squashedLayout, dir.resolve("u-layout")));

    // Pushed back in the same format and pulled as a client would: the registry accepts it, digests check out.
    String squashedRef = registry.ref(repo + "-squashed:1");
    Skopeo.copy("oci-archive:" + squashedOci, squashedRef, "--format", format);
    JsonNode pushed = Skopeo.inspectRaw(squashedRef);
    assertEquals(1, pushed.get("layers").size());
    assertSameRootfs(Skopeo.unpack(squashedRef, dir.resolve("u-pushed")));
  }
}
