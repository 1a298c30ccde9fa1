package io.squashproxy.tests.bench;

import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * For the pull benchmarks: a four-layer image of some tens of MB (incompressible data, compressible text, and
 * a layer that deletes and replaces files, so squashing drops bytes) in a real Distribution registry.
 */
final class PullImage implements AutoCloseable {

  static final String REPO = "bench/app";
  static final String TAG = "1";
  /** A small other image: pulled first, it warms a fresh server (JIT, connection pools) without caching ours. */
  static final String WARMUP = "bench/warmup:1";

  final ImageBuilder image;
  final ImageBuilder warmup;
  final DistributionRegistry upstream;

  private PullImage(ImageBuilder image, ImageBuilder warmup, DistributionRegistry upstream) {
    this.image = image;
    this.warmup = warmup;
    this.upstream = upstream;
  }

  static PullImage start() {
    Env.squashJar();
    Env.requireTools("docker-registry", "umoci", "skopeo");
    ImageBuilder image = ImageBuilder.create("app");
    ImageBuilder warmup = null;
    DistributionRegistry upstream = null;
    try {
      warmup = ImageBuilder.create("warmup");
      warmup.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox");
      // A server in service has moved tens of MiB through its download and send paths, so its JIT compiled
      // them: 24 MiB in three blobs stands for that (the fresh-JVM row measures a proxy that has not).
      warmup.layer("data", "head -c 8388608 /dev/urandom > data/r && seq 1 100000 > data/n");
      warmup.layer("more", "head -c 8388608 /dev/urandom > data/r2");
      warmup.layer("most", "head -c 8388608 /dev/urandom > data/r3");
      image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox && ln -s busybox bin/sh");
      image.layer("random", "head -c 16777216 /dev/urandom > data/blob1");
      image.layer("text", "seq 1 2500000 > data/numbers && seq 1 7 2000000 > data/more");
      image.layer("update", "rm data/blob1 data/more && head -c 8388608 /dev/urandom > data/blob2 && echo 2 > data/v");
      upstream = DistributionRegistry.start();
      Skopeo.copy(image.skopeoRef(), upstream.ref(REPO + ":" + TAG));
      Skopeo.copy(warmup.skopeoRef(), upstream.ref(WARMUP));
      return new PullImage(image, warmup, upstream);
    } catch (RuntimeException | Error e) {
      if (upstream != null) {
        upstream.close();
      }
      if (warmup != null) {
        warmup.close();
      }
      image.close();
      throw e;
    }
  }

  String upstreamUrl() {
    return "http://" + upstream.host();
  }

  /** What one {@code skopeo copy SRC dir:DIR} took and fetched. */
  record Pull(double seconds, long bytes) {}

  /** {@code skopeo copy REF dir:} into a new directory under {@code work}: its time and the bytes it wrote. */
  static Pull pull(String ref, Path work, String name) {
    Path dir = work.resolve(name);
    long t0 = System.nanoTime();
    Skopeo.copy(ref, "dir:" + dir);
    double s = (System.nanoTime() - t0) / 1e9;
    long bytes = du(dir);
    Scratch.delete(dir);
    return new Pull(s, bytes);
  }

  /** Bytes of the files skopeo wrote: the manifest, the config and every layer as fetched (compressed). */
  static long du(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }).sum();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Layers in the manifest skopeo fetched through {@code ref}. */
  static int layers(String ref) {
    return Skopeo.inspectRaw(ref).path("layers").size();
  }

  @Override
  public void close() {
    try {
      upstream.close();
    } finally {
      try {
        warmup.close();
      } finally {
        image.close();
      }
    }
  }
}
