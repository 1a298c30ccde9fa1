package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * containerd's stargz snapshotter (lazy pulling of eStargz images) with a containerd of its own wired to it:
 * the daemon ({@link StargzDaemonBuild}, built from {@code tests/stargz/}) serves the snapshotter on a unix
 * socket, with its root (snapshots, FUSE mounts, cache) in a temp dir; containerd reaches it as the proxy
 * snapshotter {@value #NAME}. Layers are not fetched at pull time: the FUSE mount of each layer fetches
 * the parts of the blob a reader touches, with HTTP range requests, from the registry named in the image
 * reference. Needs root, {@code /dev/fuse}, {@code ctr-remote} (Debian's stargz-snapshotter) and runc.
 *
 * <p>{@link #stop} stops containerd, then the daemon with SIGINT (it unmounts its FUSE mounts on the way
 * out), and returns the mounts it left; {@link #close} also unmounts those and deletes the temp dir.
 */
public final class StargzSnapshotter implements AutoCloseable {

  /** The snapshotter's name in containerd ({@code ctr run --snapshotter stargz}). */
  public static final String NAME = "stargz";

  /**
   * The daemon's settings.
   *
   * @param plainHttpHosts registries ({@code 127.0.0.1:PORT}) the daemon reaches over plain http: each gets a
   *     {@code [[resolver.host."HOST".mirrors]]} entry for itself with {@code insecure = true}
   * @param noBackgroundFetch {@code no_background_fetch = true}: only what a reader touches is fetched, so that
   *     a registry's access log measures it (by default the daemon fetches the rest of each layer later on)
   */
  public record Config(List<String> plainHttpHosts, boolean noBackgroundFetch) {

    public Config {
      plainHttpHosts = List.copyOf(plainHttpHosts);
    }

    /** Plain http to these registries, background fetch on (the daemon's default). */
    public static Config plainHttp(String... hosts) {
      return new Config(Arrays.asList(hosts), false);
    }

    /** The same with {@code no_background_fetch = true}. */
    public Config withoutBackgroundFetch() {
      return new Config(plainHttpHosts, true);
    }

    String toml() {
      StringBuilder b = new StringBuilder();
      b.append("no_background_fetch = ").append(noBackgroundFetch).append('\n');
      for (String h : plainHttpHosts) {
        b.append("[[resolver.host.\"").append(h).append("\".mirrors]]\n")
            .append("  host = \"").append(h).append("\"\n")
            .append("  insecure = true\n");
      }
      return b.toString();
    }
  }

  private final Scratch scratch;
  private final Process process;
  private final Path root;
  private final Path log;
  private Containerd containerd;
  private int runs;

  private StargzSnapshotter(Scratch scratch, Process process, Path root, Path log) {
    this.scratch = scratch;
    this.process = process;
    this.root = root;
    this.log = log;
  }

  /** Starts the daemon (building it first if needed), then a containerd that uses it. */
  public static StargzSnapshotter start(Config config) {
    Env.requireRoot("the stargz snapshotter mounts FUSE file systems; containerd");
    if (Env.which("ctr-remote") == null) {
      Env.unavailable("missing ctr-remote (apt-get install stargz-snapshotter; .ci/run installs it)");
    }
    Env.requireTools("containerd", "ctr", "runc");
    if (!Files.exists(Path.of("/dev/fuse"))) {
      Env.unavailable("missing /dev/fuse (modprobe fuse; in a container, pass --device /dev/fuse)");
    }
    Path binary = StargzDaemonBuild.binary();
    Scratch scratch = Scratch.create("sgz");
    StargzSnapshotter s = null;
    try {
      Path socket = scratch.resolve("stargz.sock");
      Path toml = scratch.resolve("config.toml");
      Path log = scratch.resolve("stargz.log");
      Path root = scratch.resolve("root");
      Files.writeString(toml, config.toml());
      Process p = Proc.of(binary.toString(), "-address", socket.toString(), "-config", toml.toString(),
          "-root", root.toString(), "-log-level", "info").startBackground(log);
      s = new StargzSnapshotter(scratch, p, root, log);
      s.awaitServing(socket, Duration.ofSeconds(30));
      s.containerd = Containerd.startWithProxySnapshotter(NAME, socket);
      return s;
    } catch (IOException e) {
      closeAfterFailure(s, scratch);
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      closeAfterFailure(s, scratch);
      throw e;
    }
  }

  private static void closeAfterFailure(StargzSnapshotter s, Scratch scratch) {
    if (s != null) {
      s.close();
    } else {
      scratch.close();
    }
  }

  private void awaitServing(Path socket, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError("the stargz snapshotter exited with " + process.exitValue() + ":\n" + log());
      }
      // The daemon logs "serving" once it listens on the socket.
      if (Files.exists(socket) && log().contains("msg=serving")) {
        return;
      }
      DistributionRegistry.sleep(100);
    }
    throw new AssertionError("the stargz snapshotter did not serve " + socket + " within " + max.toSeconds()
        + " s:\n" + log());
  }

  /** The containerd wired to this snapshotter (for {@code ctr} steps of a test's own). */
  public Containerd containerd() {
    if (containerd == null) {
      throw new IllegalStateException("stopped");
    }
    return containerd;
  }

  /**
   * {@code ctr-remote images rpull --plain-http REF}: fetches the manifest and config, and prepares the layers
   * as lazy FUSE mounts (the daemon reads each layer's footer and table of contents, nothing more).
   */
  public Proc.Result rpull(String ref) {
    return containerd().remoteCli("images", "rpull", "--plain-http", ref).ok();
  }

  /**
   * {@code ctr run --rm --snapshotter stargz REF NAME COMMAND...} (no network), after {@link #rpull}; returns
   * what the command printed on stdout. A command that exits non-zero fails the test.
   */
  public String run(String ref, String... command) {
    List<String> args = new ArrayList<>(List.of("run", "--rm", "--snapshotter", NAME, ref, "sgz-run-" + (++runs)));
    args.addAll(Arrays.asList(command));
    return containerd().cli(args.toArray(new String[0])).timeout(Duration.ofMinutes(2)).ok().stdout();
  }

  /**
   * The reference conversion to eStargz: pulls {@code src} over plain http, {@code ctr-remote images convert
   * --estargz --oci SRC DST}, {@code ctr images push --plain-http DST}, then removes both images and their
   * content from containerd ({@code images rm --sync}), so that a later {@link #rpull} of {@code dst} reads
   * only from the registry. References are {@code HOST/REPO:TAG} (no {@code docker://}).
   */
  public void convertAndPush(String src, String dst) {
    Containerd c = containerd();
    c.pull(src);
    c.remoteCli("images", "convert", "--estargz", "--oci", src, dst).ok();
    c.ctr("images", "push", "--plain-http", dst);
    c.ctr("images", "rm", "--sync", src, dst);
  }

  /** The daemon's state directory (its FUSE mounts are below it). */
  public Path root() {
    return root;
  }

  public String log() {
    return Proc.readQuietly(log);
  }

  /**
   * Stops containerd (killing any container left running), then the daemon with SIGINT, waiting for it to
   * exit (by force after 30 s). Returns the mount points still below {@link #root} afterwards: none, when
   * the daemon cleaned up as it should. Stopping twice is fine.
   */
  public List<Path> stop() {
    try {
      if (containerd != null) {
        Containerd c = containerd;
        containerd = null;
        try {
          c.removeContainers();
        } finally {
          c.close();
        }
      }
    } finally {
      stopDaemon();
    }
    return Files.exists(root) ? Scratch.mountsBelow(root) : List.of();
  }

  private void stopDaemon() {
    if (!process.isAlive()) {
      return;
    }
    // SIGINT, as upstream's daemon expects: it stops serving and closes the snapshotter (unmounting FUSE).
    Proc.of("kill", "-INT", Long.toString(process.pid())).timeout(Duration.ofSeconds(10)).run();
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        Proc.killTree(process);
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Proc.killTree(process);
      Thread.currentThread().interrupt();
    }
  }

  /** {@link #stop}, then unmounts whatever is left (lazily if busy) and deletes the temp dir. */
  @Override
  public void close() {
    try {
      stop();
    } finally {
      scratch.close();
    }
  }
}
