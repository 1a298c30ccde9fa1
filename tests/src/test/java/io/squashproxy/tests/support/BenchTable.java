package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One benchmark's result table. Benchmarks measure each figure against a reference run in the same process
 * or script (these machines are shared and noisy), so a row names the subject, the reference, both figures,
 * their ratio and the target. {@link #write()} prints the table and stores it as markdown under
 * {@code target/benchmarks/}, where {@code bench/run} collects every table into {@code docs/benchmarks.md}.
 */
public final class BenchTable {

  private final String name;
  private final String title;
  private final List<String> notes = new ArrayList<>();
  private final List<String[]> rows = new ArrayList<>();

  /** {@code name} orders the section in docs/benchmarks.md (e.g. "1-squash-throughput"). */
  public BenchTable(String name, String title) {
    this.name = name;
    this.title = title;
  }

  public BenchTable note(String text) {
    notes.add(text);
    return this;
  }

  /**
   * A measured figure against its reference: e.g. {@code row("squash gzip-6 vs pigz -6 -p 2", "12.1 s",
   * "10.4 s", 1.16, "<= 1.2", true)}.
   */
  public BenchTable row(String what, String measured, String reference, double ratio, String target,
      boolean met) {
    rows.add(new String[] {what, measured, reference, String.format("%.2f", ratio), target, met ? "yes" : "NO"});
    return this;
  }

  /** A figure with no reference (bytes transferred, peak RSS). */
  public BenchTable fact(String what, String value) {
    rows.add(new String[] {what, value, "", "", "", ""});
    return this;
  }

  public String markdown() {
    StringBuilder sb = new StringBuilder();
    sb.append("## ").append(title).append("\n\n");
    sb.append("| measure | measured | reference | ratio | target | met |\n");
    sb.append("| --- | ---: | ---: | ---: | --- | --- |\n");
    for (String[] r : rows) {
      sb.append("| ").append(String.join(" | ", r)).append(" |\n");
    }
    if (!notes.isEmpty()) {
      sb.append('\n');
      for (String n : notes) {
        sb.append("- ").append(n).append('\n');
      }
    }
    return sb.toString();
  }

  /** Prints the table and writes {@code target/benchmarks/NAME.md} (relative to the tests module). */
  public void write() {
    String md = markdown();
    System.out.println(md);
    Path dir = Path.of(System.getProperty("bench.dir", "target/benchmarks"));
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(name + ".md"), md, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Bytes as MiB with one decimal. */
  public static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / 1048576.0);
  }

  public static String seconds(double s) {
    return String.format("%.2f s", s);
  }
}
