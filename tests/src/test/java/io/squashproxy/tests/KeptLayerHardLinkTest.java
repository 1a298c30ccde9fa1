package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squashproxy.tests.support.Dockerd;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.GeneratedArchive;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.LayerTar.Entry;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.SquashCli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * With {@code --keep-layers}, a hard link in the squashed layers whose target lives in a kept layer. The OCI spec
 * allows such links ("extracting ... may fail"); docker refuses a layer holding one ({@code link A B: no such
 * file or directory}). The squashed layer must carry the target itself, so docker loads it, and the two names
 * must stay one file. With one layer above the kept ones there is nothing to squash and the image is
 * returned as it was.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KeptLayerHardLinkTest {

  static final String TAG = "squash-test/kept-link:1";

  @Test
  void aHardLinkToAFileOfAKeptLayerStaysAHardLinkThatDockerLoads() throws Exception {
    Env.squashJar();
    Env.requireRoot("dockerd");
    try (Scratch work = Scratch.create("kept-link")) {
      Path in = work.resolve("in.tar");
      GeneratedArchive.write(in, TAG, List.of(
          List.of(Entry.dir("app/"), Entry.file("app/keep", "kept content\n")),
          List.of(Entry.file("app/other", "other\n")),
          List.of(Entry.hardlink("app/link", "app/keep"))));
      try (Dockerd d = Dockerd.start()) {
        Proc.Result original = d.cli("load", "-i", in.toString()).run();
        System.out.println("[kept-link] docker load of the original: exit " + original.exitCode() + ": "
            + original.output().strip());
        StringBuilder failures = new StringBuilder();
        // --keep-layers 2 of 3 leaves one layer to "squash": nothing to do, the image is returned as it was
        // (and docker refuses it as it refuses the original).
        Path same = work.resolve("keep2.tar");
        SquashCli.squash(in, same, "--keep-layers", "2");
        assertEquals(ImageArchive.open(in).layers().size(), ImageArchive.open(same).layers().size());
        for (int keep : new int[] {0, 1}) {
          Path out = work.resolve("keep" + keep + ".tar");
          SquashCli.squash(in, out, "--keep-layers", Integer.toString(keep));
          assertEquals(keep + 1, ImageArchive.open(out).layers().size());
          Proc.Result load = d.cli("load", "-i", out.toString()).run();
          if (load.exitCode() != 0) {
            failures.append("--keep-layers ").append(keep).append(": docker load failed: ")
                .append(load.output().strip()).append('\n');
            continue;
          }
          RootfsTree t = RootfsTree.scan(d.exportRootfs(TAG, work.resolve("export-" + keep)));
          if (!t.linkGroup("app/link").equals(List.of("app/keep", "app/link"))) {
            failures.append("--keep-layers ").append(keep).append(": app/link is no longer a hard link of app/keep: ")
                .append(t.linkGroup("app/link")).append('\n');
          }
          if (!Files.readString(t.root().resolve("app/link")).equals("kept content\n")) {
            failures.append("--keep-layers ").append(keep).append(": app/link has the wrong content\n");
          }
          d.docker("rmi", TAG);
        }
        assertEquals("", failures.toString());
      }
    }
  }
}
