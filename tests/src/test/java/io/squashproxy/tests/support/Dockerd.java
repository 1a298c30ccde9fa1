package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Docker daemon started by hand with its own data-root, exec-root, pidfile, socket and (empty) daemon.json
 * under a short temp dir; no iptables, no bridge. overlay2 first, vfs when the filesystem refuses overlay2
 * ({@code SQUASH_TEST_DOCKER_DRIVER=vfs} forces one). Needs root.
 */
public final class Dockerd implements AutoCloseable {

  /**
   * What {@code docker create} adds to every container's filesystem (its init layer, with fresh mtimes), to
   * leave out of comparisons; the test images have no /dev, /proc or /sys of their own.
   */
  public static final String[] CONTAINER_INIT_PATHS = {".dockerenv", "etc/hosts", "etc/hostname",
      "etc/resolv.conf", "etc/mtab", "dev", "proc", "sys"};

  /** Comparison options for two {@code docker export} trees: docker keeps only security.capability. */
  public static RootfsTree.Options exportComparison() {
    return RootfsTree.Options.exact().xattrs(n -> n.equals("security.capability")).ignore(CONTAINER_INIT_PATHS);
  }

  private final Scratch scratch;
  private final Process process;
  private final Path socket;
  private final Path cliConfig;
  private final String storageDriver;
  private final Path log;

  private Dockerd(Scratch scratch, Process process, Path socket, Path cliConfig, String driver, Path log) {
    this.scratch = scratch;
    this.process = process;
    this.socket = socket;
    this.cliConfig = cliConfig;
    this.storageDriver = driver;
    this.log = log;
  }

  public static Dockerd start() {
    Env.requireRoot("dockerd");
    Env.requireTools("dockerd", "docker", "containerd", "runc");
    StringBuilder failures = new StringBuilder();
    String forced = System.getenv("SQUASH_TEST_DOCKER_DRIVER");
    List<String> drivers = forced == null || forced.isBlank() ? List.of("overlay2", "vfs") : List.of(forced);
    for (String driver : drivers) {
      Scratch scratch = Scratch.create("dk");
      try {
        Path socket = scratch.resolve("docker.sock");
        Path cliConfig = scratch.dir("cli");
        Path log = scratch.resolve("dockerd.log");
        Path daemonJson = scratch.resolve("daemon.json");
        Files.writeString(daemonJson, "{}\n");
        Process p = Proc.of("dockerd",
            "--config-file", daemonJson.toString(),
            "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false",
            "--storage-driver=" + driver,
            "--data-root", scratch.resolve("root").toString(),
            "--exec-root", scratch.resolve("exec").toString(),
            "--pidfile", scratch.resolve("docker.pid").toString(),
            "-H", "unix://" + socket).startBackground(log);
        Dockerd d = new Dockerd(scratch, p, socket, cliConfig, driver, log);
        if (d.awaitReady(Duration.ofSeconds(60))) {
          return d;
        }
        failures.append("--- dockerd with ").append(driver).append(":\n").append(tail(Proc.readQuietly(log)));
        d.close();
      } catch (IOException e) {
        scratch.close();
        throw new UncheckedIOException(e);
      } catch (RuntimeException | Error e) {
        scratch.close();
        throw e;
      }
    }
    throw new AssertionError("dockerd did not start with overlay2 nor vfs:\n" + failures);
  }

  private boolean awaitReady(Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        return false;
      }
      if (Files.exists(socket)) {
        Proc.Result r = cli("version", "--format", "{{.Server.Version}}").timeout(Duration.ofSeconds(10)).run();
        if (r.exitCode() == 0) {
          return true;
        }
      }
      DistributionRegistry.sleep(200);
    }
    return false;
  }

  private static String tail(String s) {
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }

  /** A {@code docker} CLI command against this daemon (not run yet). */
  public Proc cli(String... args) {
    List<String> cmd = new ArrayList<>(List.of("docker", "-H", "unix://" + socket));
    cmd.addAll(Arrays.asList(args));
    return Proc.of(cmd).env("DOCKER_CONFIG", cliConfig.toString()).timeout(Duration.ofMinutes(3));
  }

  /** Runs a docker command, failing with its output on a non-zero exit. */
  public Proc.Result docker(String... args) {
    return cli(args).ok();
  }

  public String storageDriver() {
    return storageDriver;
  }

  public String log() {
    return Proc.readQuietly(log);
  }

  /**
   * The image's root filesystem as {@code docker create} + {@code docker export} give it, unpacked with GNU tar
   * into {@code dest} (which must not exist). Returns {@code dest}.
   */
  public Path exportRootfs(String image, Path dest) {
    String id = docker("create", image, "/bin/sh").stdout().strip();
    try {
      Path tar = dest.resolveSibling(dest.getFileName() + ".tar");
      cli("export", "-o", tar.toString(), id).ok();
      Tars.extractWithGnuTar(tar, dest);
      try {
        Files.delete(tar);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return dest;
    } finally {
      docker("rm", "-f", id);
    }
  }

  @Override
  public void close() {
    try {
      Proc.stop(process, Duration.ofSeconds(20));
    } finally {
      scratch.close();
    }
  }
}
