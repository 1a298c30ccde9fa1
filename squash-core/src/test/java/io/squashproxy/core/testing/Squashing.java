package io.squashproxy.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.estargz.EstargzReader;
import io.squashproxy.core.estargz.EstargzWriter;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs a squash on a {@link TestImage} and collects what came out. */
public final class Squashing {
  private Squashing() {}

  /**
   * @param layerBlob the squashed layer blob as written (compressed)
   * @param layerTar that blob decompressed
   */
  public record Squashed(SquashResult result, byte[] layerBlob, byte[] layerTar) {
    /** The tars a client applies for the result: the kept layers' and then the squashed one. */
    public List<byte[]> resultTars(TestImage source, int keep) {
      List<byte[]> out = new ArrayList<>(source.layerTars().subList(0, keep));
      out.add(layerTar);
      return out;
    }
  }

  /**
   * Squashes {@code image}. With estargz output the blob is checked as eStargz ({@link EstargzReader}: structure,
   * TOC, chunk digests, the descriptor's annotations), and {@link Squashed#layerTar} is its tar without the
   * eStargz metadata entries (the TOC, the landmark): the tar a gzip squash gives, which the callers' file-system
   * checks compare.
   */
  public static Squashed squash(TestImage image, SquashOptions options, Path workDir) throws IOException {
    SquashResult r = new Squasher().squash(image.manifest(), image.blobs(), options, workDir);
    if (!r.squashed()) {
      return new Squashed(r, null, null);
    }
    byte[] blob = Files.readAllBytes(r.squashedLayerFile());
    r.deleteLayerFile();
    if (options.compression().algorithm() == Compression.Algorithm.ESTARGZ) {
      EstargzReader esgz = EstargzReader.verify(blob, options.compression().chunkSize());
      Descriptor layer = r.squashedLayer();
      assertEquals(Digest.sha256(esgz.tocJson).toString(), layer.annotation(EstargzWriter.TOC_DIGEST_ANNOTATION),
          "TOC digest annotation");
      assertEquals(Long.toString(esgz.tar.length), layer.annotation(EstargzWriter.UNCOMPRESSED_SIZE_ANNOTATION),
          "uncompressed size annotation");
      assertEquals(Digest.sha256(esgz.tar), r.squashedDiffId(), "diff_id of the eStargz tar");
      return new Squashed(r, blob, esgz.tarWithoutMetadata());
    }
    return new Squashed(r, blob, Blobs.decompress(blob));
  }

  /** A full squash with default options. */
  public static Squashed squash(TestImage image, Path workDir) throws IOException {
    return squash(image, SquashOptions.DEFAULT, workDir);
  }

  /** The files left in {@code dir} (recursively; directories not counted), for "nothing left behind" checks. */
  public static List<Path> leftovers(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return List.of();
    }
    try (var s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).toList();
    }
  }
}
