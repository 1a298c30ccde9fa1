package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Local stand-ins for the Dockerfile's two base images, made from Debian packages, since these machines reach
 * no image registry (no Docker Hub): a {@code debootstrap --variant=minbase bookworm} root filesystem, copied
 * into an empty buildah container; {@code openjdk-17-jre-headless} installed with apt and committed as the
 * runtime stand-in (for {@code eclipse-temurin:17-jre}); then, in a container from that image,
 * {@code openjdk-17-jdk-headless} and {@code maven} committed as the build stand-in (for
 * {@code maven:3.9-eclipse-temurin-17}). apt inside the containers uses Debian's mirror over the host's
 * network; its package lists and downloaded .debs live in bind-mounted temp dirs, so neither image carries
 * them and the second install downloads the lists no more. The machine's local CAs
 * ({@code /usr/local/share/ca-certificates}) are trusted in both, as on the machine.
 */
public final class DebianStandIns {

  public static final String RUNTIME = "localhost/squash-standin-jre:17";
  public static final String BUILD = "localhost/squash-standin-maven:17";

  private static final String SUITE = "bookworm";
  private static final Path LOCAL_CAS = Path.of("/usr/local/share/ca-certificates");

  /** The two images' names and how long each step took. */
  public record Images(String runtime, String build, String timings) {}

  private DebianStandIns() {}

  /**
   * Builds both stand-ins into {@code buildah}'s storage, with temp files (the debootstrap root filesystem, apt's
   * lists and archives) under {@code work}; the root filesystem is deleted once imported.
   */
  public static Images build(Buildah buildah, Scratch work) {
    Env.requireTools("debootstrap");
    StringBuilder timings = new StringBuilder();
    long t = System.nanoTime();

    Path rootfs = work.resolve("debian-rootfs");
    List<String> debootstrap = new java.util.ArrayList<>(
        List.of("debootstrap", "--variant=minbase", SUITE, rootfs.toString()));
    String mirror = System.getenv("SQUASH_TEST_DEBIAN_MIRROR");
    if (mirror != null && !mirror.isBlank()) {
      debootstrap.add(mirror);
    }
    Proc.of(debootstrap).timeout(Duration.ofMinutes(10)).ok();
    t = lap(timings, "debootstrap", t);

    String base = buildah.fromScratch();
    try {
      Path mnt = buildah.mount(base);
      Proc.of("cp", "-a", rootfs + "/.", mnt + "/").timeout(Duration.ofMinutes(5)).ok();
      // The machine's own CAs (such as a TLS-inspecting egress proxy's), which the ca-certificates package
      // installed with Java adds to the system and Java trust stores: Maven in the build then reaches Maven
      // Central as the machine's Maven does.
      if (Files.isDirectory(LOCAL_CAS)) {
        Path dest = Files.createDirectories(mnt.resolve(LOCAL_CAS.toString().substring(1)));
        Proc.of("cp", "-a", LOCAL_CAS + "/.", dest + "/").timeout(Duration.ofMinutes(1)).ok();
      }
      buildah.umount(base);
      Scratch.delete(rootfs);
      t = lap(timings, "import", t);

      List<String> apt = List.of(
          work.dir("apt-lists") + ":/var/lib/apt/lists",
          work.dir("apt-archives") + ":/var/cache/apt/archives");
      buildah.run(base, apt, Duration.ofMinutes(10), "sh", "-euc", aptInstall(true, "openjdk-17-jre-headless")
          + "java -version 2>&1 | head -1");
      t = lap(timings, "apt jre", t);
      buildah.commit(base, RUNTIME);
      t = lap(timings, "commit jre", t);

      String build = buildah.from(RUNTIME);
      try {
        buildah.run(build, apt, Duration.ofMinutes(10), "sh", "-euc",
            aptInstall(false, "openjdk-17-jdk-headless", "maven") + "mvn -v | head -1");
        t = lap(timings, "apt jdk+maven", t);
        buildah.commit(build, BUILD);
        lap(timings, "commit jdk+maven", t);
      } finally {
        buildah.rm(build);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      buildah.rm(base);
    }
    return new Images(RUNTIME, BUILD, timings.toString().replaceAll(",\\s*$", ""));
  }

  /** A shell script: (apt-get update,) install the packages without recommends, drop apt's caches and logs. */
  private static String aptInstall(boolean update, String... packages) {
    return "export DEBIAN_FRONTEND=noninteractive\n"
        + (update ? "apt-get -q update\n" : "")
        + "apt-get -q -y install --no-install-recommends " + String.join(" ", packages) + "\n"
        + "rm -rf /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/log/alternatives.log\n";
  }

  private static long lap(StringBuilder timings, String step, long since) {
    long now = System.nanoTime();
    timings.append(step).append(' ').append(Duration.ofNanos(now - since).toMillis() / 100 / 10.0).append(" s, ");
    return now;
  }
}
