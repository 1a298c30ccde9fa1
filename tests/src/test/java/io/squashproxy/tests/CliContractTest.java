package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.GeneratedArchive;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.LayerTar.Entry;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.SquashCli;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The CLI's contract: exit 0 with a report, or exit 1 with a message and no output for bad input (a missing
 * file, something that is not an image, a truncated archive, a layer whose bytes do not match its diff_id).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CliContractTest {

  static final String MARKER = "this-content-is-checked-against-its-diff-id";

  Scratch work;

  @BeforeEach
  void setUp() {
    Env.squashJar();
    work = Scratch.create("cli");
  }

  @AfterEach
  void tearDown() {
    work.close();
  }

  private Path smallArchive(String name) {
    Path p = work.resolve(name);
    GeneratedArchive.write(p, "squash-test/small:1", List.of(
        List.of(Entry.dir("etc/"), Entry.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")),
        List.of(Entry.file("etc/marker", MARKER + "\n"), Entry.file("etc/gone", "soon deleted\n")),
        List.of(Entry.whiteout("etc/gone"))));
    return p;
  }

  private static void assertRefused(Proc.Result r, Path out) {
    assertEquals(1, r.exitCode(), "bad input must exit 1: " + r.describe());
    assertFalse(r.output().isBlank(), "bad input must come with a message");
    assertFalse(Files.exists(out), "no output may be left for bad input: " + out);
  }

  @Test
  void aGoodArchiveExitsZeroWithAReport() {
    Path in = smallArchive("small.tar");
    Path out = work.resolve("out.tar");
    Proc.Result r = SquashCli.squash(in, out);
    String report = r.output();
    assertTrue(Pattern.compile("layers[^\\n]*3\\s*->\\s*1", Pattern.CASE_INSENSITIVE).matcher(report).find(),
        "the report should show layers 3 -> 1:\n" + report);
    assertTrue(report.toLowerCase().contains("saved"), "the report should show bytes saved:\n" + report);
    assertEquals(1, ImageArchive.open(out).layers().size());
  }

  @Test
  void aMissingInputIsRefused() {
    Path out = work.resolve("out.tar");
    assertRefused(SquashCli.run("squash", "--input", work.resolve("nope.tar").toString(), "--output",
        out.toString()), out);
  }

  @Test
  void aFileThatIsNotAnImageIsRefused() throws IOException {
    Path in = work.resolve("random.bin");
    byte[] junk = new byte[100_000];
    new Random(7).nextBytes(junk);
    Files.write(in, junk);
    Path out = work.resolve("out.tar");
    assertRefused(SquashCli.run("squash", "--input", in.toString(), "--output", out.toString()), out);
  }

  @Test
  void aTruncatedArchiveIsRefused() throws IOException {
    Path in = smallArchive("small.tar");
    try (RandomAccessFile f = new RandomAccessFile(in.toFile(), "rw")) {
      f.setLength(f.length() / 2);
    }
    Path out = work.resolve("out.tar");
    assertRefused(SquashCli.run("squash", "--input", in.toString(), "--output", out.toString()), out);
  }

  @Test
  void aLayerThatDoesNotMatchItsDiffIdIsRefused() throws IOException {
    Path in = smallArchive("small.tar");
    byte[] all = Files.readAllBytes(in);
    int at = indexOf(all, MARKER.getBytes(StandardCharsets.US_ASCII));
    assertTrue(at > 0, "marker not found in the generated archive");
    try (RandomAccessFile f = new RandomAccessFile(in.toFile(), "rw")) {
      f.seek(at);
      f.write('X');
    }
    Path out = work.resolve("out.tar");
    assertRefused(SquashCli.run("squash", "--input", in.toString(), "--output", out.toString()), out);
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
