package io.squashproxy.tests.support;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rootful podman with its own {@code --root}, {@code --runroot} and tmpdir under a temp dir and the vfs storage
 * driver, so it shares nothing with any other podman on the machine. Loads and mounts images (podman run
 * does not work on these machines; loads and mounts do).
 */
public final class Podman implements AutoCloseable {

  private static final Pattern LOADED = Pattern.compile("Loaded image(?:\\(s\\))?: *(\\S+)");

  private final Scratch scratch;

  private Podman(Scratch scratch) {
    this.scratch = scratch;
  }

  public static Podman create() {
    Env.requireRoot("podman with its own --root");
    Env.requireTools("podman");
    return new Podman(Scratch.create("pm"));
  }

  public Proc cli(String... args) {
    List<String> cmd = new ArrayList<>(List.of("podman",
        "--root", scratch.resolve("root").toString(),
        "--runroot", scratch.resolve("run").toString(),
        "--tmpdir", scratch.resolve("tmp").toString(),
        "--storage-driver", "vfs",
        "--events-backend", "none",
        "--cgroup-manager", "cgroupfs"));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).env("TMPDIR", scratch.dir("tmpdir").toString()).timeout(Duration.ofMinutes(3));
  }

  public Proc.Result podman(String... args) {
    return cli(args).ok();
  }

  /** {@code podman load -i ARCHIVE}; returns the name of the image it loaded. */
  public String load(Path archive) {
    Proc.Result r = podman("load", "-i", archive.toString());
    Matcher m = LOADED.matcher(r.output());
    if (!m.find()) {
      throw new AssertionError("podman load printed no image name: " + r.describe());
    }
    return m.group(1).split(",")[0];
  }

  /** {@code podman image mount IMAGE}: the directory holding the image's root filesystem. */
  public Path mount(String image) {
    return Path.of(podman("image", "mount", image).stdout().strip());
  }

  @Override
  public void close() {
    try {
      cli("image", "unmount", "--all", "--force").timeout(Duration.ofSeconds(60)).run();
    } finally {
      scratch.close();
    }
  }
}
