package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;

/**
 * The stargz snapshotter daemon ({@code containerd-stargz-grpc}), built from {@code tests/stargz/} with Debian's
 * Go toolchain and stargz library: Debian packages only {@code ctr-remote}, not the daemon. Built once into the
 * tests module's target dir, under a directory named by the hash of the sources, so the second test (and the
 * second {@code mvn} run) reuses it; a change to the sources builds again. A cold build takes 30 to 50 s.
 * A missing toolchain or library skips the test, or fails it with {@code CI=true}.
 */
public final class StargzDaemonBuild {

  /** The files {@code tests/stargz/build.sh} builds from; their bytes name the build. */
  private static final List<String> SOURCES = List.of("build.sh", "main.go", "cri-api-standin/api.go");
  /** Where golang-github-containerd-stargz-snapshotter-dev puts the library's service package. */
  private static final Path LIBRARY = Path.of("/usr/share/gocode/src/github.com/containerd/stargz-snapshotter/service");
  private static final String PACKAGES = "apt-get install golang-go golang-github-containerd-stargz-snapshotter-dev"
      + " stargz-snapshotter fuse3; .ci/run installs them";

  private static Path built;

  private StargzDaemonBuild() {}

  /** The daemon binary, built first if this source hash has not been built yet. */
  public static synchronized Path binary() {
    if (built != null) {
      return built;
    }
    Path src = dirProperty("squash.stargz.src");
    Path target = dirProperty("squash.build.dir").resolve("stargz");
    Path out = target.resolve(sourceHash(src));
    Path bin = out.resolve("containerd-stargz-grpc");
    if (!Files.isExecutable(bin)) {
      if (Env.which("go") == null) {
        Env.unavailable("missing go, to build the stargz snapshotter daemon (" + PACKAGES + ")");
      }
      if (!Files.isDirectory(LIBRARY)) {
        Env.unavailable("missing the stargz snapshotter Go library " + LIBRARY + " (" + PACKAGES + ")");
      }
      build(src, target, out);
    }
    built = bin;
    return bin;
  }

  private static Path dirProperty(String name) {
    String p = System.getProperty(name);
    if (p == null || p.isBlank()) {
      Env.unavailable("system property " + name + " is not set (run through the tests module's surefire)");
    }
    return Path.of(p).toAbsolutePath().normalize();
  }

  /** Builds into a fresh dir, then renames it to {@code out}: a build killed half-way is never taken for done. */
  private static void build(Path src, Path target, Path out) {
    try {
      Files.createDirectories(target);
      Path tmp = Files.createTempDirectory(target, "building-");
      try {
        Proc.of("sh", src.resolve("build.sh").toString(), tmp.toString())
            // Shared by every build: a rebuild after a change to main.go reuses the library's compiled packages.
            .env("GOCACHE", target.resolve("gocache").toString())
            .timeout(Duration.ofMinutes(6)).ok();
        try {
          Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
          // Another JVM may have built the same sources meanwhile: its binary is as good as ours.
          if (!Files.isExecutable(out.resolve("containerd-stargz-grpc"))) {
            throw new AssertionError("cannot rename " + tmp + " to " + out + ": " + e, e);
          }
        }
      } finally {
        Scratch.delete(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** SHA-256 over the sources' names and bytes, first 16 hex digits. */
  private static String sourceHash(Path src) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (String name : SOURCES) {
        Path f = src.resolve(name);
        if (!Files.isRegularFile(f)) {
          throw new AssertionError("missing stargz daemon source " + f);
        }
        sha.update((name + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        sha.update(Files.readAllBytes(f));
        sha.update((byte) 0);
      }
      return HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
