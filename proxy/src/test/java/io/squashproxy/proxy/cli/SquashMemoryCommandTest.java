package io.squashproxy.proxy.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.layout.TestImages;
import io.squashproxy.core.layout.TestImages.DockerImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images too big for the heap (issue #14): {@code --max-paths} refuses one with an error naming the image and the
 * flag, and a heap that runs out anyway gives one line naming the image and what to set, never the JVM's
 * {@code OutOfMemoryError}; neither leaves an output behind.
 */
class SquashMemoryCommandTest {
  @TempDir
  Path dir;

  private final CliRun cli = new CliRun();

  @Test
  void moreThanMaxPathsIsAnErrorNamingTheImageAndTheFlag() throws IOException {
    Path in = dir.resolve("in.tar");
    TestImages.writeDockerArchive(in, List.of(new DockerImage(List.of("app:1"), TestImages.threeLayers("a"))));
    Path output = dir.resolve("out.tar");

    assertEquals(1, cli.run("squash", "-i", in.toString(), "-o", output.toString(), "--max-paths", "4"));
    String e = cli.err.toString();
    assertTrue(e.startsWith("error: "), e);
    assertTrue(e.contains("image app:1: layer "), e);
    assertTrue(e.contains("more than 4 paths, the most one squash may hold (--max-paths)"), e);
    assertFalse(e.contains("Exception"), e);
    assertFalse(Files.exists(output));

    assertEquals(0, cli.run("squash", "-i", in.toString(), "-o", output.toString(), "--max-paths", "100"), cli.err.toString());
    assertEquals(2, cli.run("squash", "-i", in.toString(), "-o", dir.resolve("o2.tar").toString(), "--max-paths", "0"));
    assertTrue(cli.err.toString().contains("--max-paths must be at least 1"), cli.err.toString());
  }

  @Test
  void aHeapThatRunsOutGivesOneLineNamingTheImageAndWhatToSet() throws Exception {
    Path in = manyPaths();
    Path output = dir.resolve("out.tar");
    String said = runWith16MiB("squash", "-i", in.toString(), "-o", output.toString());
    assertTrue(said.contains("error: " + in + ": image many:1: out of memory with a "), said);
    assertTrue(said.contains("JAVA_TOOL_OPTIONS=-Xmx") && said.contains("java -Xmx"), said);
    assertFalse(said.contains("OutOfMemoryError") || said.contains("\tat "), said);
    assertFalse(Files.exists(output));
  }

  @Test
  void analyzeRunningOutOfHeapSaysWhatToSetToo() throws Exception {
    Path in = manyPaths();
    String said = runWith16MiB("analyze", in.toString());
    assertTrue(said.contains("error: " + in + ": out of memory with a "), said);
    assertTrue(said.contains("-jar squash-proxy.jar analyze"), said);
    assertFalse(said.contains("OutOfMemoryError") || said.contains("\tat "), said);
  }

  /** 150,000 paths need about 15 MB of heap to squash, besides the 8 MB the JVM and CLI hold: 16 MiB runs out. */
  private Path manyPaths() throws IOException {
    List<String> specs = new ArrayList<>();
    specs.add("node_modules/");
    for (int i = 0; i < 150_000; i++) {
      specs.add("node_modules/package-" + (i / 10) + "/lib/file-" + i + ".js");
    }
    Path in = dir.resolve("many.tar");
    TestImages.writeDockerArchive(in, List.of(new DockerImage(List.of("many:1"),
        List.of(TestImages.layer("etc/", "etc/os-release=x"), TestImages.layer(specs.toArray(String[]::new))))));
    return in;
  }

  /** The command in a child JVM with a 16 MiB heap: what it printed, after checking it exited 1. */
  private String runWith16MiB(String... args) throws Exception {
    Path log = dir.resolve("stderr-" + args[0] + ".txt");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-Xmx16m", "-XX:+UseSerialGC", "-cp",
        System.getProperty("java.class.path"), Main.class.getName()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the command ends");
    String said = Files.readString(log, StandardCharsets.UTF_8);
    assertEquals(1, p.exitValue(), said);
    return said;
  }
}
