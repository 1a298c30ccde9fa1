package io.squashproxy.tests.dev;

import io.squashproxy.tests.support.*;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DevScratchTest {
  @Test
  void buildRich() throws Exception {
    try (Scratch w = Scratch.create("dev"); ImageBuilder img = SampleImages.rich("rich", false)) {
      Path ref = img.unpack(w.resolve("ref"));
      SampleImages.checkRichReference(ref);
      Path da = img.toDockerArchive(w.resolve("d.tar"), "t/r:1");
      ImageArchive a = ImageArchive.open(da);
      ImageChecks.assertConsistent(a);
      try (Dockerd d = Dockerd.start()) {
        System.out.println("driver " + d.storageDriver());
        d.docker("load", "-i", da.toString());
        System.out.println(d.docker("run", "--rm", "--network", "none", "t/r:1").output());
        Path ex = d.exportRootfs("t/r:1", w.resolve("export"));
        System.out.println("docker vs ref compared " + RootfsTree.assertIdentical(ref, ex, RootfsTree.Options.exact()
            .xattrs(n -> n.equals("security.capability"))
            .ignore(".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", "dev", "proc", "sys")));
      }
      try (Podman p = Podman.create()) {
        String name = p.load(da);
        Path m = p.mount(name);
        System.out.println("podman vs ref compared " + RootfsTree.assertIdentical(ref, m, RootfsTree.Options.exact()));
      }
    }
  }
}
