package io.squashproxy.tests.support;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The machine's local Maven repository as a writable overlay (overlayfs: the repository is the read-only lower
 * layer, writes land in a temp upper dir), to bind-mount into a container build as its {@code ~/.m2/repository}:
 * the build finds what the machine already downloaded and downloads only the rest, and the machine's repository
 * is never written. This project's own artifacts ({@code io/squashproxy}) are hidden, so that a build that
 * cannot make them itself fails as it would on a clean machine instead of using stale installed copies.
 * {@code SQUASH_TEST_M2_OVERLAY=off} turns it off, to try the build as on a machine that never ran Maven.
 */
public final class MavenRepoOverlay implements AutoCloseable {

  private final Path merged;

  private MavenRepoOverlay(Path merged) {
    this.merged = merged;
  }

  /**
   * Mounts the overlay under {@code work}; null when there is no local repository or the kernel refuses the
   * overlay (the build then downloads everything), with the reason printed.
   */
  public static MavenRepoOverlay mount(Scratch work) {
    if ("off".equalsIgnoreCase(System.getenv("SQUASH_TEST_M2_OVERLAY"))) {
      System.out.println("[m2] SQUASH_TEST_M2_OVERLAY=off: the container build downloads everything");
      return null;
    }
    String configured = System.getProperty("maven.repo.local");
    Path repo = configured != null && !configured.isBlank() ? Path.of(configured)
        : Path.of(System.getProperty("user.home"), ".m2", "repository");
    if (!Files.isDirectory(repo)) {
      System.out.println("[m2] no local Maven repository at " + repo + ": the container build downloads everything");
      return null;
    }
    Path upper = work.dir("m2-upper");
    Path workdir = work.dir("m2-work");
    Path merged = work.dir("m2");
    Proc.Result r = Proc.of("mount", "-t", "overlay", "overlay", "-o",
        "lowerdir=" + repo.toAbsolutePath() + ",upperdir=" + upper + ",workdir=" + workdir, merged.toString())
        .timeout(Duration.ofSeconds(30)).run();
    if (r.exitCode() != 0) {
      System.out.println("[m2] cannot overlay " + repo + " (the container build downloads everything): "
          + r.describe());
      return null;
    }
    Proc.of("rm", "-rf", merged.resolve("io/squashproxy").toString()).timeout(Duration.ofSeconds(30)).ok();
    return new MavenRepoOverlay(merged);
  }

  /** The merged directory, to mount at the container's {@code /root/.m2/repository}. */
  public Path path() {
    return merged;
  }

  @Override
  public void close() {
    Proc.Result r = Proc.of("umount", merged.toString()).timeout(Duration.ofSeconds(30)).run();
    if (r.exitCode() != 0) {
      Proc.of("umount", "-l", merged.toString()).timeout(Duration.ofSeconds(30)).run();
    }
  }
}
