package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.Blobs;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.RefFs;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The image squashing exists for: a big file added in one layer and deleted in the next. */
class BloatedImageTest {
  @TempDir(factory = FastTempDirs.class)
  Path work;

  @Test
  void aFileAddedThenDeletedCostsNothingAfterSquashing() throws IOException {
    byte[] big = new byte[64 << 20];
    new Random(64).nextBytes(big);
    byte[] bigTar = layer().dir("data").file("data/blob.bin", big).tar();
    big = null;
    TestImage img = TestImage.docker()
        .layer(layer().dir("etc").file("etc/os-release", "ID=test").dir("usr/bin").file("usr/bin/app", "app"))
        .rawLayer(bigTar, Blobs.gzip(bigTar, Deflater.BEST_SPEED), MediaTypes.DOCKER_LAYER_GZIP)
        .layer(layer().whiteout("data/blob.bin"))
        .build();
    long bigLayerSize = img.layerBlobs().get(1).length;
    long before = 0;
    for (JsonNode l : img.manifestJson().get("layers")) {
      before += l.get("size").asLong();
    }

    Squashing.Squashed s = Squashing.squash(img, work);
    long after = 0;
    for (JsonNode l : TestImage.parse(s.result().manifest()).get("layers")) {
      after += l.get("size").asLong();
    }
    assertTrue(after <= before - bigLayerSize,
        "squashed " + after + " bytes, original " + before + ", the big file's layer alone " + bigLayerSize);
    assertEquals(before, s.result().report().compressedBytesBefore());
    assertEquals(after, s.result().report().compressedBytesAfter());
    assertTrue(s.result().report().bytesSaved() >= bigLayerSize);
    assertTrue(s.layerTar().length < 10_000, "the squashed tar holds only the small files");

    RefFs original = RefFs.of(img.layerTars());
    assertEquals("", original.view().diff(RefFs.of(List.of(s.layerTar())).view()));
    assertEquals(List.of("data", "etc", "etc/os-release", "usr", "usr/bin", "usr/bin/app"),
        List.copyOf(original.view().paths().keySet()));
    assertEquals(List.of(), Squashing.leftovers(work));
  }
}
