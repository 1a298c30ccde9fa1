package io.squashproxy.core.estargz;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

/**
 * The squashed eStargz opened by containerd's own Go {@code estargz} package (src/test/go/estargzcheck): TOC
 * digest, every chunk through the snapshotter's verifier, and the same TOC as {@code estargz.Build} writes for the
 * tar. Runs where Go and Debian's golang-github-containerd-stargz-snapshotter-dev are installed.
 */
@EnabledIf("goAndEstargzInstalled")
class EstargzGoCheckTest {
  private static final Path GOPATH = Path.of("/usr/share/gocode");
  private static final Path ESTARGZ = GOPATH.resolve("src/github.com/containerd/stargz-snapshotter/estargz");

  @TempDir(factory = FastTempDirs.class)
  Path work;

  static boolean goAndEstargzInstalled() {
    return Files.isDirectory(ESTARGZ) && Files.isExecutable(Path.of("/usr/bin/go"));
  }

  @Test
  void goReadsTheSquashedLayerAndWritesTheSameToc() throws Exception {
    Path tool = work.resolve("estargzcheck");
    run(List.of("go", "build", "-o", tool.toString(), "."), Path.of("src/test/go/estargzcheck"));
    check(tool, EstargzSquashTest.image(), Compression.parse("estargz:6:1000"), "small-chunks");
    byte[] big = new byte[9 << 20];
    new java.util.Random(5).nextBytes(big);
    check(tool, TestImage.oci().layer(layer().file("opt/big", big).dir("opt/d").file("opt/d/x", "x"))
        .layer(layer().file("etc/hosts", "127.0.0.1 localhost").hardlink("opt/big2", "opt/big")).build(),
        Compression.ESTARGZ, "default-chunks");
  }

  @Test
  void goFindsThePrefetchLandmarkAfterPrioritizedFiles() throws Exception {
    Path tool = work.resolve("estargzcheck");
    run(List.of("go", "build", "-o", tool.toString(), "."), Path.of("src/test/go/estargzcheck"));
    check(tool, EstargzSquashTest.image(), SquashOptions.DEFAULT.withCompression(Compression.parse("estargz:6:1000"))
        .withPrioritized(List.of("/usr/bin/tool2", "etc/passwd")), "prefetch");
  }

  private void check(Path tool, TestImage img, Compression c, String name) throws Exception {
    check(tool, img, SquashOptions.DEFAULT.withCompression(c), name);
  }

  private void check(Path tool, TestImage img, SquashOptions options, String name) throws Exception {
    SquashResult r = new Squasher().squash(img.manifest(), img.blobs(), options, work.resolve(name));
    String toc = r.squashedLayer().annotation(EstargzWriter.TOC_DIGEST_ANNOTATION);
    String out = run(List.of(tool.toString(), r.squashedLayerFile().toString(), toc,
        Integer.toString(options.compression().chunkSize()), options.prioritized().isEmpty() ? "" : "prefetch"),
        work);
    r.deleteLayerFile();
    assertEquals(true, out.endsWith("ok\n"), name + ": " + out);
  }

  private static String run(List<String> command, Path dir) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().put("GO111MODULE", "off");
    pb.environment().put("GOPATH", GOPATH.toString());
    pb.environment().put("GOMAXPROCS", "1"); // one estargz.Build part: user names are given once, as ours
    pb.environment().putIfAbsent("GOCACHE", System.getProperty("java.io.tmpdir") + "/squash-estargz-gocache");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(command + " timed out");
    }
    assertEquals(0, p.exitValue(), command + ":\n" + out);
    return out;
  }
}
