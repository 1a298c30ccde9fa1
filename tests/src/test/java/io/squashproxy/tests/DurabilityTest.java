package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.DistributionRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A cache entry reaches the disk before it is published: the proxy's system calls, watched with strace while
 * skopeo pulls an image through it, show for every file renamed into {@code blobs/} or {@code manifests/}
 * an {@code fdatasync} (or {@code fsync}) of that file before the rename and an {@code fsync} of its
 * directory after it, both by the thread that renames. Without them a power loss can leave a published
 * blob with missing bytes (the rename reaches the journal before the data).
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class DurabilityTest {
  /** {@code TID name(ARGS...}: the start of a call (strace -f -y prints an fd's path as {@code FD</path>}). */
  private static final Pattern CALL = Pattern.compile("^(\\d+) +(\\w+)\\((.*)$");
  private static final Pattern FD_PATH = Pattern.compile("^\\d+<([^>]*)>");
  private static final Pattern RENAME_PATHS = Pattern.compile("\"([^\"]*)\", (?:AT_FDCWD, )?\"([^\"]*)\"");

  record Call(long tid, String name, String args) {}

  @Test
  void everyCacheFileIsFlushedBeforeItsRenameAndItsDirectoryAfter() throws Exception {
    Env.squashJar();
    Env.requireTools("docker-registry", "skopeo", "umoci", "strace");
    Env.requireRoot("tracing the proxy's system calls");
    try (Scratch work = Scratch.create("durability");
        DistributionRegistry registry = DistributionRegistry.start();
        ImageBuilder image = FaultsTestSupport.smallImage("durable")) {
      image.layer("more", "echo more > app/more");
      Skopeo.copy(image.skopeoRef(), registry.ref("dur/app:1"), "--format", "v2s2");
      try (ProxyProcess proxy = ProxyProcess.start("http://" + registry.host())) {
        Path trace = work.resolve("strace.out");
        Path err = work.resolve("strace.err");
        Process strace = new ProcessBuilder("strace", "-f", "-y", "-o", trace.toString(),
            "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-p", String.valueOf(proxy.pid()))
            .redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
          // strace says "Process N attached with T threads" once it watches them all.
          FaultsTestSupport.await("strace attached", Duration.ofSeconds(30),
              () -> Proc.readQuietly(err).contains("attached"));
          Skopeo.copy(proxy.ref("dur/app:1"), "oci:" + work.dir("pulled") + ":img");
        } finally {
          Proc.stop(strace, Duration.ofSeconds(10));
        }
        String cache = proxy.cacheDir().toRealPath().toString();
        List<Call> calls = parse(Files.readAllLines(trace));
        int checked = 0;
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
          Call c = calls.get(i);
          if (!c.name().startsWith("rename")) {
            continue;
          }
          Matcher m = RENAME_PATHS.matcher(c.args());
          if (!m.find()) {
            continue;
          }
          String from = m.group(1);
          String to = m.group(2);
          if (!to.startsWith(cache + "/blobs/") && !to.startsWith(cache + "/manifests/")) {
            continue;
          }
          checked++;
          String dir = to.substring(0, to.lastIndexOf('/'));
          if (!synced(calls.subList(0, i), c.tid(), from, true)) {
            problems.add(to + ": " + from + " not flushed before the rename");
          }
          if (!synced(calls.subList(i + 1, calls.size()), c.tid(), dir, false)) {
            problems.add(to + ": directory " + dir + " not flushed after the rename");
          }
        }
        System.out.printf("[durability] %d renames into the cache checked, %d calls traced%n", checked,
            calls.size());
        assertTrue(checked >= 5, "config, 3 layers, squashed config, layer and manifest: " + checked + "\n"
            + String.join("\n", Files.readAllLines(trace)));
        assertTrue(problems.isEmpty(), String.join("\n", problems));
      }
    }
  }

  /**
   * A flush of {@code path} by thread {@code tid}: the last such call before (a file) or the first after (a
   * directory).
   */
  private static boolean synced(List<Call> calls, long tid, String path, boolean before) {
    for (int k = 0; k < calls.size(); k++) {
      Call c = calls.get(before ? calls.size() - 1 - k : k);
      if (c.tid() != tid) {
        continue;
      }
      boolean flush = c.name().equals("fsync") || c.name().equals("fdatasync");
      if (flush) {
        Matcher fd = FD_PATH.matcher(c.args());
        if (fd.find() && fd.group(1).equals(path)) {
          return true;
        }
      }
      if (!before && c.name().startsWith("rename")) {
        return false; // the next entry's work began: the directory was not flushed for this one
      }
    }
    return false;
  }

  private static List<Call> parse(List<String> lines) {
    List<Call> calls = new ArrayList<>();
    for (String line : lines) {
      Matcher m = CALL.matcher(line);
      if (m.find()) {
        calls.add(new Call(Long.parseLong(m.group(1)), m.group(2), m.group(3)));
      }
    }
    return calls;
  }
}
