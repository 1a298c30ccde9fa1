package io.squashproxy.tests.bench;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.RawManifest;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * For the serving benchmarks: an image with a 64 MiB layer of random bytes in a real Distribution registry,
 * a proxy (started as in production: optimising JIT, default GC) in front of it, and the proxy's cache filled
 * by one skopeo pull. Gives the cached manifest's bytes and the cached layer's file.
 */
final class CachedImage implements AutoCloseable {

  static final String REPO = "bench/big";
  static final String TAG = "1";

  final ImageBuilder image;
  final DistributionRegistry registry;
  final ProxyProcess proxy;
  final RawManifest manifest;
  final String layerDigest;
  final Path layerFile;

  private CachedImage(ImageBuilder image, DistributionRegistry registry, ProxyProcess proxy, RawManifest manifest,
      String layerDigest, Path layerFile) {
    this.image = image;
    this.registry = registry;
    this.proxy = proxy;
    this.manifest = manifest;
    this.layerDigest = layerDigest;
    this.layerFile = layerFile;
  }

  static CachedImage start() {
    Env.squashJar();
    Env.requireTools("docker-registry", "umoci", "skopeo", "wrk", "nginx");
    ImageBuilder image = null;
    DistributionRegistry registry = null;
    ProxyProcess proxy = null;
    try {
      image = ImageBuilder.create("big");
      image.layer("base", "mkdir -p bin data && cp " + Env.busybox() + " bin/busybox");
      image.layer("big", "head -c 67108864 /dev/urandom > data/big");
      registry = DistributionRegistry.start();
      Skopeo.copy(image.skopeoRef(), registry.ref(REPO + ":" + TAG));
      proxy = ProxyProcess.startForBenchmark("http://" + registry.host(), null, List.of("-Xmx512m"));
      try (Scratch out = Scratch.create("pull")) {
        Skopeo.copy(proxy.ref(REPO + ":" + TAG), "dir:" + out.resolve("img"));
      }
      RawManifest m = proxy.manifest(REPO, TAG);
      String layer = m.layerDigests().get(m.layerDigests().size() - 1);
      Path file = cachedFile(proxy, layer);
      if (!Files.isRegularFile(file) || Files.size(file) < 64L << 20) {
        throw new AssertionError("the cached layer is not where the benchmark expects it: " + file);
      }
      return new CachedImage(image, registry, proxy, m, layer, file);
    } catch (Exception e) {
      for (AutoCloseable c : new AutoCloseable[] {proxy, registry, image}) {
        try {
          if (c != null) {
            c.close();
          }
        } catch (Exception ignored) {
          // the first failure is the one to report
        }
      }
      if (e instanceof RuntimeException r) {
        throw r;
      }
      throw new AssertionError(e);
    }
  }

  /** The image config's digest (a small blob the proxy has cached). */
  String configDigest() {
    return manifest.blobDigests().get(0);
  }

  /** Where the proxy keeps the cached blob {@code digest}. */
  Path cachedFile(String digest) {
    return cachedFile(proxy, digest);
  }

  private static Path cachedFile(ProxyProcess proxy, String digest) {
    return proxy.cacheDir().resolve("blobs/sha256").resolve(digest.substring("sha256:".length()));
  }

  /** The Accept header docker and containerd send for manifests. */
  static String acceptHeader() {
    return "Accept: " + AccessLogRegistry.MANIFEST_ACCEPT;
  }

  @Override
  public void close() {
    try {
      proxy.close();
    } finally {
      try {
        registry.close();
      } finally {
        image.close();
      }
    }
  }
}
