package io.squashproxy.tests.support;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * What the machine offers. Outside CI a missing tool skips the test with a message; with {@code CI=true}
 * a missing tool (or a missing jar, or not being root) fails it: CI must never pass by skipping.
 */
public final class Env {

  private static final List<String> EXTRA_PATH = List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
      "/usr/bin", "/sbin", "/bin");

  private Env() {}

  public static boolean ci() {
    return "true".equalsIgnoreCase(System.getenv("CI"));
  }

  /** Skips (outside CI) or fails (in CI) the current test. */
  public static void unavailable(String why) {
    if (ci()) {
      Assertions.fail(why + " (CI=true: a missing prerequisite is a failure, not a skip)");
    }
    Assumptions.abort(why + " (set CI=true to make this a failure)");
  }

  /** Absolute path of an executable on PATH (or the usual sbin directories), or null. */
  public static Path which(String name) {
    Set<String> dirs = new LinkedHashSet<>();
    String path = System.getenv("PATH");
    if (path != null) {
      for (String d : path.split(File.pathSeparator)) {
        if (!d.isEmpty()) {
          dirs.add(d);
        }
      }
    }
    dirs.addAll(EXTRA_PATH);
    for (String d : dirs) {
      Path p = Path.of(d, name);
      if (Files.isRegularFile(p) && Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  public static void requireTools(String... names) {
    List<String> missing = new ArrayList<>();
    for (String n : names) {
      if (which(n) == null) {
        missing.add(n);
      }
    }
    if (!missing.isEmpty()) {
      unavailable("missing tools: " + String.join(", ", missing)
          + " (apt-get install docker-registry skopeo umoci podman docker.io containerd busybox-static attr "
          + "libcap2-bin; .ci/run installs them)");
    }
  }

  public static void requireFile(Path p, String what) {
    if (!Files.exists(p)) {
      unavailable("missing " + what + ": " + p);
    }
  }

  public static boolean isRoot() {
    return "root".equals(System.getProperty("user.name")) || uid() == 0;
  }

  private static long uid() {
    try {
      Object u = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return ((Number) u).longValue();
    } catch (Exception e) {
      return -1;
    }
  }

  public static void requireRoot(String why) {
    if (!isRoot()) {
      unavailable("needs root: " + why);
    }
  }

  /** The shaded CLI jar that the proxy module packages (system property {@code squash.jar}). */
  public static Path squashJar() {
    String p = System.getProperty("squash.jar");
    if (p == null || p.isBlank()) {
      unavailable("system property squash.jar is not set (run through the tests module's surefire)");
    }
    Path jar = Path.of(p).toAbsolutePath().normalize();
    if (!Files.isRegularFile(jar)) {
      unavailable("the squash CLI jar is not built: " + jar + " (mvn -B -o -DskipTests package)");
    }
    return jar;
  }

  /** The checkout the tests run in: the nearest directory above the working one that holds deploy/compose. */
  public static Path repoRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isRegularFile(dir.resolve("deploy/compose/compose.yaml"))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new AssertionError("no deploy/compose/compose.yaml above " + Path.of("").toAbsolutePath());
    }
    return dir;
  }

  /** The java launcher of the JVM running the tests. */
  public static Path java() {
    return Path.of(System.getProperty("java.home"), "bin", "java");
  }

  /** A static busybox to seed test images with. */
  public static Path busybox() {
    for (String c : List.of("/bin/busybox", "/usr/bin/busybox")) {
      Path p = Path.of(c);
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    unavailable("missing /bin/busybox (apt-get install busybox-static)");
    return null;
  }
}
