package io.squashproxy.tests.support;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What a running proxy process holds, read from outside: open file descriptors by kind (client connections to
 * its listener, files under its cache, everything), heap after a full GC ({@code jcmd PID GC.run}, then the
 * admin listener's JVM meters) and Netty's direct memory.
 */
public final class ProcessCensus {
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private ProcessCensus() {}

  /** Open descriptors of one process: all, TCP connections on {@code port} (not the listener), files under a dir. */
  public record Fds(int total, int connections, int cacheFiles) {
    @Override
    public String toString() {
      return total + " open (" + connections + " client connections, " + cacheFiles + " cache files)";
    }
  }

  public static Fds fds(long pid, int port, Path cacheDir) {
    Path fdDir = Path.of("/proc/" + pid + "/fd");
    Map<String, Integer> socketPorts = socketsOnPort(pid, port);
    int total = 0;
    int conns = 0;
    int files = 0;
    try (Stream<Path> s = Files.list(fdDir)) {
      for (Path fd : s.toList()) {
        String target;
        try {
          target = Files.readSymbolicLink(fd).toString();
        } catch (IOException e) {
          continue; // closed while we looked
        }
        total++;
        if (target.startsWith("socket:[")) {
          if (socketPorts.containsKey(target.substring(8, target.length() - 1))) {
            conns++;
          }
        } else if (cacheDir != null && target.startsWith(cacheDir.toString())) {
          files++;
        }
      }
    } catch (IOException e) {
      throw new AssertionError("cannot list " + fdDir + ": " + e);
    }
    return new Fds(total, conns, files);
  }

  /** Socket inodes of established (not listening) TCP connections whose local port is {@code port}. */
  private static Map<String, Integer> socketsOnPort(long pid, int port) {
    Map<String, Integer> out = new HashMap<>();
    for (String table : List.of("tcp", "tcp6")) {
      Path p = Path.of("/proc/" + pid + "/net/" + table);
      List<String> lines;
      try {
        lines = Files.readAllLines(p);
      } catch (IOException e) {
        continue;
      }
      for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
        String[] f = line.trim().split("\\s+");
        if (f.length < 10) {
          continue;
        }
        String local = f[1];
        int localPort = Integer.parseInt(local.substring(local.indexOf(':') + 1), 16);
        if (localPort == port && !f[3].equals("0A")) {
          out.put(f[9], localPort);
        }
      }
    }
    return out;
  }

  /** Runs a full GC in the process (jcmd) and returns the heap in use afterwards, from /metrics. */
  public static long heapAfterGc(long pid, String adminUrl) {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    Proc.of(jcmd.toString(), String.valueOf(pid), "GC.run").timeout(Duration.ofSeconds(60)).ok();
    return metric(adminUrl, "jvm_memory_used_bytes", "area=\"heap\"");
  }

  /** Sum of the samples of a Prometheus metric whose labels contain {@code labelFilter} (null: all). */
  public static long metric(String adminUrl, String name, String labelFilter) {
    String text;
    try {
      text = HTTP.send(HttpRequest.newBuilder(URI.create(adminUrl + "/metrics")).timeout(Duration.ofSeconds(30))
          .build(), HttpResponse.BodyHandlers.ofString()).body();
    } catch (IOException e) {
      throw new AssertionError("GET /metrics: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
    double sum = 0;
    boolean found = false;
    for (String line : text.split("\n")) {
      if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
        if (labelFilter != null && !line.contains(labelFilter)) {
          continue;
        }
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        found = true;
      }
    }
    if (!found) {
      throw new AssertionError("no " + name + " in /metrics");
    }
    return (long) sum;
  }
}
