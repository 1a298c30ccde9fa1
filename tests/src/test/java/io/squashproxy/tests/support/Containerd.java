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

/**
 * A standalone containerd with its own root, state, opt dir and socket under a short temp dir, the CRI plugin
 * disabled, driven with {@code ctr} in its own namespace. Pulls over plain http ({@code ctr images pull
 * --plain-http}), reads the stored manifest from its content store, and mounts an image's root filesystem
 * ({@code ctr images mount}; {@code unmount --rm} so the next mount is fresh). Needs root.
 */
public final class Containerd implements AutoCloseable {

  /** containerd and podman lose {@code trusted.*} xattrs when they unpack layers: compare everything else. */
  public static RootfsTree.Options comparison() {
    return RootfsTree.Options.exact().xattrs(n -> !n.startsWith("trusted."));
  }

  private static final String NAMESPACE = "squash-test";

  private final Scratch scratch;
  private final Process process;
  private final Path socket;
  private final Path log;
  private final List<Path> mounted = new ArrayList<>();
  private int mounts;

  private Containerd(Scratch scratch, Process process, Path socket, Path log) {
    this.scratch = scratch;
    this.process = process;
    this.socket = socket;
    this.log = log;
  }

  public static Containerd start() {
    return start("");
  }

  /**
   * With a snapshotter named {@code name} served over gRPC on {@code socket} ({@code [proxy_plugins.NAME]
   * type = "snapshot"}); fails unless {@code ctr plugins ls} then shows it {@code ok}.
   */
  public static Containerd startWithProxySnapshotter(String name, Path socket) {
    Containerd c = start(String.join("\n",
        "[proxy_plugins." + name + "]",
        "  type = \"snapshot\"",
        "  address = \"" + socket + "\"",
        ""));
    try {
      String plugins = c.ctr("plugins", "ls").stdout();
      boolean ok = plugins.lines().map(l -> l.trim().split("\\s+")).anyMatch(f -> f.length >= 4
          && f[0].equals("io.containerd.snapshotter.v1") && f[1].equals(name) && f[f.length - 1].equals("ok"));
      if (!ok) {
        throw new AssertionError("containerd does not list snapshotter " + name + " as ok:\n" + plugins
            + "\ncontainerd log:\n" + c.log());
      }
      return c;
    } catch (RuntimeException | Error e) {
      c.close();
      throw e;
    }
  }

  private static Containerd start(String extraConfig) {
    Env.requireRoot("containerd");
    Env.requireTools("containerd", "ctr");
    Scratch scratch = Scratch.create("ctd");
    try {
      Path socket = scratch.resolve("c.sock");
      Path config = scratch.resolve("config.toml");
      Path log = scratch.resolve("containerd.log");
      Files.writeString(config, String.join("\n",
          "version = 2",
          "root = \"" + scratch.resolve("root") + "\"",
          "state = \"" + scratch.resolve("state") + "\"",
          "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]",
          "[grpc]",
          "  address = \"" + socket + "\"",
          "[ttrpc]",
          "  address = \"" + socket + ".ttrpc\"",
          "[debug]",
          "  level = \"warn\"",
          "[plugins.\"io.containerd.internal.v1.opt\"]",
          "  path = \"" + scratch.resolve("opt") + "\"",
          extraConfig));
      Process p = Proc.of("containerd", "--config", config.toString()).startBackground(log);
      Containerd c = new Containerd(scratch, p, socket, log);
      try {
        c.awaitReady(Duration.ofSeconds(30));
        return c;
      } catch (RuntimeException | Error e) {
        c.close();
        throw e;
      }
    } catch (IOException e) {
      scratch.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      if (Files.exists(scratch.path())) {
        scratch.close();
      }
      throw e;
    }
  }

  private void awaitReady(Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError("containerd exited with " + process.exitValue() + ":\n" + log());
      }
      if (Files.exists(socket) && cli("version").timeout(Duration.ofSeconds(10)).run().exitCode() == 0) {
        return;
      }
      DistributionRegistry.sleep(200);
    }
    throw new AssertionError("containerd did not answer within " + max.toSeconds() + " s:\n" + log());
  }

  /** A {@code ctr -a SOCKET -n NAMESPACE ARGS} command (not run yet). */
  public Proc cli(String... args) {
    List<String> cmd = new ArrayList<>(List.of("ctr", "-a", socket.toString(), "-n", NAMESPACE));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).timeout(Duration.ofMinutes(3));
  }

  /** A {@code ctr-remote -a SOCKET -n NAMESPACE ARGS} command: ctr with the stargz snapshotter's commands. */
  public Proc remoteCli(String... args) {
    List<String> cmd = new ArrayList<>(List.of("ctr-remote", "-a", socket.toString(), "-n", NAMESPACE));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).timeout(Duration.ofMinutes(3));
  }

  public Proc.Result ctr(String... args) {
    return cli(args).ok();
  }

  /** {@code ctr images pull --plain-http IMAGE} (host platform only, unpacked into the default snapshotter). */
  public Proc.Result pull(String image, String... extra) {
    List<String> args = new ArrayList<>(List.of("images", "pull", "--plain-http"));
    args.addAll(Arrays.asList(extra));
    args.add(image);
    return ctr(args.toArray(new String[0]));
  }

  /** The digest of the manifest (or index) {@code image} points at, from {@code ctr images ls}. */
  public String imageDigest(String image) {
    for (String line : ctr("images", "ls").stdout().split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 3 && f[0].equals(image)) {
        return f[2];
      }
    }
    throw new AssertionError("ctr images ls does not list " + image);
  }

  /** A blob from containerd's content store ({@code ctr content get DIGEST}). */
  public byte[] content(String digest) {
    Path out = scratch.resolve("content-" + System.nanoTime());
    try {
      cli("content", "get", digest).stdoutTo(out).ok();
      byte[] b = Files.readAllBytes(out);
      Files.delete(out);
      return b;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The stored manifest of {@code image} (an image manifest; for an index, the caller picks an entry). */
  public JsonNode manifest(String image) {
    try {
      return ImageArchive.JSON.readTree(content(imageDigest(image)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code ctr images mount IMAGE DIR}: a read-only view of the image's root filesystem. */
  public Path mount(String image) {
    Path target = scratch.dir("mnt-" + (++mounts));
    ctr("images", "mount", image, target.toString());
    mounted.add(target);
    return target;
  }

  /** {@code ctr images unmount --rm DIR}. */
  public void unmount(Path target) {
    ctr("images", "unmount", "--rm", target.toString());
    mounted.remove(target);
  }

  public String log() {
    return Proc.readQuietly(log);
  }

  /**
   * Kills every task and removes every container in the namespace (best effort): a {@code ctr run --rm} that
   * failed half-way leaves its shim running and its root filesystem mounted.
   */
  public void removeContainers() {
    Duration t = Duration.ofSeconds(30);
    for (String id : cli("tasks", "ls", "-q").timeout(t).run().stdout().split("\n")) {
      if (!id.isBlank()) {
        cli("tasks", "rm", "-f", id.trim()).timeout(t).run();
      }
    }
    for (String id : cli("containers", "ls", "-q").timeout(t).run().stdout().split("\n")) {
      if (!id.isBlank()) {
        cli("containers", "rm", id.trim()).timeout(t).run();
      }
    }
  }

  @Override
  public void close() {
    try {
      for (Path m : List.copyOf(mounted)) {
        cli("images", "unmount", "--rm", m.toString()).timeout(Duration.ofSeconds(30)).run();
      }
      Proc.stop(process, Duration.ofSeconds(15));
    } finally {
      scratch.close();
    }
  }
}
