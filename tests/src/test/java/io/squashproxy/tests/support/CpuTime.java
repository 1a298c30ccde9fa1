package io.squashproxy.tests.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CPU time (user + system) used so far by processes and their descendants, from {@code /proc/PID/stat}. On a
 * shared machine a server's CPU time per request varies far less than its requests per second, which depend
 * on what else runs.
 */
public final class CpuTime {

  /** Linux reports process times in clock ticks of 1/100 s (USER_HZ) on every common architecture. */
  private static final long MICROS_PER_TICK = 10_000;

  private CpuTime() {}

  /** Microseconds of CPU used by {@code pids} and all their descendants (living ones). */
  public static long micros(long... pids) {
    long ticks = 0;
    for (long pid : pids) {
      List<Long> all = new ArrayList<>();
      all.add(pid);
      ProcessHandle.of(pid).ifPresent(h -> h.descendants().forEach(d -> all.add(d.pid())));
      for (long p : all) {
        ticks += ticks(p);
      }
    }
    return ticks * MICROS_PER_TICK;
  }

  private static long ticks(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
      return Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14 and 15)
    } catch (IOException | RuntimeException e) {
      return 0; // gone
    }
  }
}
