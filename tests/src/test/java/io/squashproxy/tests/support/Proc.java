package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs external commands with a timeout and captured output. A command that exits non-zero, or runs past
 * its timeout, fails the test with the command line and everything it printed.
 */
public final class Proc {

  /** Output kept per stream in memory; the rest is dropped (the tail is what matters in a failure). */
  private static final int MAX_CAPTURE = 1 << 20;

  private final List<String> command;
  private Duration timeout = Duration.ofMinutes(2);
  private Path dir;
  private Path stdinFile;
  private Path stdoutFile;
  private final Map<String, String> env = new LinkedHashMap<>();

  private Proc(List<String> command) {
    this.command = List.copyOf(command);
  }

  public static Proc of(String... command) {
    return new Proc(Arrays.asList(command));
  }

  public static Proc of(List<String> command) {
    return new Proc(command);
  }

  /** {@code sh -euc SCRIPT}, for steps that read best as shell. */
  public static Proc sh(String script) {
    return of("sh", "-euc", script);
  }

  public Proc timeout(Duration t) {
    this.timeout = t;
    return this;
  }

  public Proc dir(Path d) {
    this.dir = d;
    return this;
  }

  public Proc env(String key, String value) {
    env.put(key, value);
    return this;
  }

  public Proc stdin(Path file) {
    this.stdinFile = file;
    return this;
  }

  /** Sends stdout to a file instead of memory (for big outputs such as {@code docker export}). */
  public Proc stdoutTo(Path file) {
    this.stdoutFile = file;
    return this;
  }

  public List<String> command() {
    return command;
  }

  /** Runs and returns the result whatever the exit code; fails only on timeout. */
  public Result run() {
    ProcessBuilder pb = builder();
    long start = System.nanoTime();
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new AssertionError("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
    }
    Drain out = stdoutFile == null ? new Drain(p.getInputStream()) : null;
    Drain err = new Drain(p.getErrorStream());
    boolean done;
    try {
      done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (!done) {
        killTree(p);
        p.waitFor(10, TimeUnit.SECONDS);
      }
      if (out != null) {
        out.join(10_000);
      }
      err.join(10_000);
    } catch (InterruptedException e) {
      killTree(p);
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while running " + String.join(" ", command), e);
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    String stdout = out == null ? "(stdout in " + stdoutFile + ")" : out.text();
    Result r = new Result(command, done ? p.exitValue() : -1, stdout, err.text(), took);
    if (!done) {
      throw new AssertionError("timed out after " + timeout.toSeconds() + " s: " + r.describe());
    }
    return r;
  }

  /** Runs and fails the test, with the output, unless the command exits 0. */
  public Result ok() {
    Result r = run();
    if (r.exitCode() != 0) {
      throw new AssertionError("command failed: " + r.describe());
    }
    return r;
  }

  /** Starts a long-running process with its output sent to {@code logFile}; the caller stops it. */
  public Process startBackground(Path logFile) {
    ProcessBuilder pb = builder();
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    try {
      return pb.start();
    } catch (IOException e) {
      throw new AssertionError("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
    }
  }

  private ProcessBuilder builder() {
    ProcessBuilder pb = new ProcessBuilder(command);
    if (dir != null) {
      pb.directory(dir.toFile());
    }
    pb.environment().putAll(env);
    if (stdinFile != null) {
      pb.redirectInput(stdinFile.toFile());
    } else {
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    }
    if (stdoutFile != null) {
      pb.redirectOutput(stdoutFile.toFile());
    }
    return pb;
  }

  /** Kills a process and its descendants (only those: it walks this process's own tree). */
  public static void killTree(Process p) {
    killTree(p.toHandle());
  }

  public static void killTree(ProcessHandle h) {
    h.descendants().forEach(ProcessHandle::destroyForcibly);
    h.destroyForcibly();
  }

  /** Stops a process politely (SIGTERM), then by force after {@code grace}. */
  public static void stop(Process p, Duration grace) {
    if (p == null || !p.isAlive()) {
      return;
    }
    List<ProcessHandle> children = new ArrayList<>(p.descendants().toList());
    p.destroy();
    try {
      if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        killTree(p);
        p.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      killTree(p);
      Thread.currentThread().interrupt();
    }
    for (ProcessHandle c : children) {
      if (c.isAlive()) {
        c.destroy();
        try {
          c.onExit().get(grace.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
          c.destroyForcibly();
        }
      }
    }
  }

  /** One try at starting a server on ports it picks: the server, or an AssertionError once it has stopped it. */
  @FunctionalInterface
  public interface Attempt<T> {
    T start(int attempt) throws IOException;
  }

  /**
   * Up to three tries of {@code attempt}, each on fresh ports (another process may take a free port before the
   * server binds it). On the last failure, or any other error, closes {@code scratch} and rethrows (an
   * IOException as UncheckedIOException).
   */
  public static <T> T startWithRetries(Scratch scratch, Attempt<T> attempt) {
    try {
      AssertionError last = null;
      for (int i = 0; i < 3; i++) {
        try {
          return attempt.start(i);
        } catch (AssertionError e) {
          last = e;
        }
      }
      throw last;
    } catch (IOException e) {
      scratch.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      scratch.close();
      throw e;
    }
  }

  /** A free TCP port on 127.0.0.1 (free when asked: a server started on it may still lose a race for it). */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code kill -9}: the process gets no chance to clean up; returns once it is gone. */
  public static void kill(Process p) {
    p.destroyForcibly();
    try {
      p.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** What a finished command did. */
  public record Result(List<String> command, int exitCode, String stdout, String stderr, Duration took) {

    public String describe() {
      return String.join(" ", command) + "\n  exit code: " + exitCode + " (after " + took.toMillis()
          + " ms)\n  stdout:\n" + indent(stdout) + "\n  stderr:\n" + indent(stderr);
    }

    public String output() {
      return stdout + stderr;
    }

    private static String indent(String s) {
      String t = s.length() > 20_000 ? "...\n" + s.substring(s.length() - 20_000) : s;
      return "    " + t.strip().replace("\n", "\n    ");
    }
  }

  /** Reads a stream to its end on its own thread, so a full pipe never blocks the child. */
  private static final class Drain extends Thread {
    private final InputStream in;
    private final java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    private boolean truncated;

    Drain(InputStream in) {
      this.in = in;
      setDaemon(true);
      start();
    }

    @Override
    public void run() {
      byte[] b = new byte[8192];
      try {
        int n;
        while ((n = in.read(b)) > 0) {
          synchronized (buf) {
            if (buf.size() + n > MAX_CAPTURE) {
              byte[] keep = buf.toByteArray();
              buf.reset();
              int from = keep.length / 2;
              buf.write(keep, from, keep.length - from);
              truncated = true;
            }
            buf.write(b, 0, n);
          }
        }
      } catch (IOException e) {
        // the process went away; keep what we have
      }
    }

    String text() {
      synchronized (buf) {
        String s = buf.toString(StandardCharsets.UTF_8);
        return truncated ? "[...output truncated...]\n" + s : s;
      }
    }
  }

  /** Reads a whole small file as UTF-8, or "" if it is missing. */
  public static String readQuietly(Path p) {
    try {
      return Files.exists(p) ? new String(Files.readAllBytes(p), StandardCharsets.UTF_8) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** As {@link #awaitHttp200}, but stops {@code p} before failing, so that a retry starts clean. */
  public static void awaitHttp200OrStop(Process p, java.net.http.HttpClient http, java.net.URI uri,
      Duration max, String what, Path log) {
    try {
      awaitHttp200(p, http, uri, max, what, log);
    } catch (AssertionError e) {
      stop(p, Duration.ofSeconds(5));
      throw e;
    }
  }

  /**
   * Polls {@code uri} until it answers 200 while {@code p} lives; fails with {@code what} and the process's
   * log when it exits or {@code max} passes.
   */
  public static void awaitHttp200(Process p, java.net.http.HttpClient http, java.net.URI uri,
      Duration max, String what, Path log) {
    awaitHttpStatus(p, http, uri, 200, max, what, log);
  }

  /** As {@link #awaitHttp200}, for another status (a registry with auth is ready when it answers 401). */
  public static void awaitHttpStatus(Process p, java.net.http.HttpClient http, java.net.URI uri, int status,
      Duration max, String what, Path log) {
    java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(uri)
        .timeout(Duration.ofSeconds(2)).GET().build();
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new AssertionError(what + " exited with " + p.exitValue() + ":\n" + readQuietly(log));
      }
      try {
        if (http.send(req, java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode() == status) {
          return;
        }
      } catch (IOException e) {
        // not up yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
    throw new AssertionError(what + " did not answer " + uri.getPath() + " with " + status + " within "
        + max.toSeconds() + " s:\n" + readQuietly(log));
  }
}
