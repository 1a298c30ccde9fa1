package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * buildah with its own image storage ({@code --root}, {@code --runroot}) and temp dir under a short temp dir,
 * so nothing touches the machine's /var/lib/containers; overlay storage first, vfs when the filesystem refuses
 * overlay ({@code SQUASH_TEST_BUILDAH_DRIVER=vfs} forces one). Every {@code RUN} uses chroot isolation (the
 * only one that works on these machines) and the host's network. Signature policy: accept anything (the
 * images are local). {@link #close()} removes the working containers, unmounts what is left and deletes the
 * storage. Needs root.
 */
public final class Buildah implements AutoCloseable {

  private final Scratch scratch;
  private final String driver;
  private final Path policy;
  private final Path tmp;

  private Buildah(Scratch scratch, String driver) {
    this.scratch = scratch;
    this.driver = driver;
    this.policy = scratch.resolve("policy.json");
    this.tmp = scratch.resolve("tmp");
  }

  public static Buildah start() {
    Env.requireRoot("buildah with its own storage, chroot isolation");
    Env.requireTools("buildah");
    String forced = System.getenv("SQUASH_TEST_BUILDAH_DRIVER");
    List<String> drivers = forced == null || forced.isBlank() ? List.of("overlay", "vfs") : List.of(forced);
    StringBuilder failures = new StringBuilder();
    for (String driver : drivers) {
      Buildah b = new Buildah(Scratch.create("bah"), driver);
      try {
        Files.writeString(b.policy, "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n");
        Files.createDirectories(b.tmp);
        // A container from scratch that mounts proves the driver works here.
        String ctr = b.fromScratch();
        Proc.Result r = b.cmd("mount", ctr).timeout(Duration.ofSeconds(60)).run();
        b.cmd("rm", ctr).timeout(Duration.ofSeconds(60)).run();
        if (r.exitCode() == 0) {
          return b;
        }
        failures.append("--- ").append(driver).append(": ").append(r.describe()).append('\n');
        b.close();
      } catch (IOException e) {
        b.close();
        throw new UncheckedIOException(e);
      } catch (RuntimeException | Error e) {
        failures.append("--- ").append(driver).append(": ").append(e.getMessage()).append('\n');
        b.close();
      }
    }
    throw new AssertionError("buildah works with neither overlay nor vfs storage:\n" + failures);
  }

  public String storageDriver() {
    return driver;
  }

  /** A {@code buildah} command against this storage (not run yet); 10 minutes unless changed. */
  public Proc cmd(String... args) {
    List<String> cmd = new ArrayList<>(List.of("buildah",
        "--root", scratch.resolve("root").toString(),
        "--runroot", scratch.resolve("runroot").toString(),
        "--storage-driver", driver));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).env("TMPDIR", tmp.toString()).env("BUILDAH_ISOLATION", "chroot")
        .timeout(Duration.ofMinutes(10));
  }

  /** {@code buildah from scratch}: a new empty working container; returns its name. */
  public String fromScratch() {
    return cmd("from", "--signature-policy", policy.toString(), "scratch").ok().stdout().strip();
  }

  /** {@code buildah from --pull=never IMAGE}: a working container from a local image. */
  public String from(String image) {
    return cmd("from", "--pull=never", "--signature-policy", policy.toString(), image).ok().stdout().strip();
  }

  /** Mounts a working container's root filesystem; returns the mount point. */
  public Path mount(String container) {
    return Path.of(cmd("mount", container).ok().stdout().strip());
  }

  public void umount(String container) {
    cmd("umount", container).ok();
  }

  /**
   * {@code buildah run --isolation chroot [-v HOST:CTR]... CONTAINER -- COMMAND}; fails with the output on a
   * non-zero exit.
   */
  public Proc.Result run(String container, List<String> volumes, Duration timeout, String... command) {
    List<String> args = new ArrayList<>(List.of("run", "--isolation", "chroot"));
    for (String v : volumes) {
      args.add("--volume");
      args.add(v);
    }
    args.add(container);
    args.add("--");
    args.addAll(Arrays.asList(command));
    return cmd(args.toArray(new String[0])).timeout(timeout).ok();
  }

  /** {@code buildah commit --format docker CONTAINER IMAGE}; returns the image id. */
  public String commit(String container, String image) {
    return cmd("commit", "--quiet", "--format", "docker", "--signature-policy", policy.toString(), container, image)
        .ok().stdout().strip();
  }

  /** {@code buildah rm CONTAINER}. */
  public void rm(String container) {
    cmd("rm", container).ok();
  }

  /**
   * {@code buildah bud --isolation chroot --format docker --pull=never} of {@code contextDir} (its Dockerfile
   * and .dockerignore), with build arguments and {@code --volume}s for its RUN steps; tags the result.
   * Docker format, since the OCI image config has no HEALTHCHECK. Returns the build's output.
   */
  public Proc.Result bud(Path contextDir, Map<String, String> buildArgs, List<String> volumes, String tag,
      Duration timeout) {
    List<String> args = new ArrayList<>(List.of("bud", "--isolation", "chroot", "--format", "docker",
        "--pull=never", "--network", "host", "--signature-policy", policy.toString(), "--tag", tag));
    buildArgs.forEach((k, v) -> {
      args.add("--build-arg");
      args.add(k + "=" + v);
    });
    for (String v : volumes) {
      args.add("--volume");
      args.add(v);
    }
    args.add(contextDir.toString());
    return cmd(args.toArray(new String[0])).dir(contextDir).timeout(timeout).ok();
  }

  /** {@code buildah push IMAGE docker-archive:TAR:NAME} (what {@code docker load} reads). */
  public Path pushDockerArchive(String image, Path tar, String name) {
    cmd("push", "--quiet", "--signature-policy", policy.toString(), image, "docker-archive:" + tar + ":" + name)
        .ok();
    return tar;
  }

  /** {@code buildah inspect --type image IMAGE}, parsed. */
  public JsonNode inspectImage(String image) {
    try {
      return ImageArchive.JSON.readTree(cmd("inspect", "--type", "image", image).ok().stdout());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    try {
      if (Files.isDirectory(scratch.resolve("root"))) {
        cmd("rm", "--all").timeout(Duration.ofMinutes(2)).run();
      }
    } finally {
      scratch.close();
    }
  }
}
