package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.RootfsTree;
import io.squashproxy.tests.support.Scratch;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The tree comparator every end-to-end test relies on must see each kind of difference (otherwise those tests
 * could not fail), and must ignore directory mtimes.
 */
class RootfsTreeTest {

  static final String TREE = String.join("\n",
      "mkdir -p d/sub",
      "echo content > d/file",
      "echo other > d/other",
      "ln d/file d/hardlink",
      "ln -s file d/symlink",
      "mknod d/null c 1 3",
      "mkfifo d/fifo",
      "echo s > d/suid && chmod 4755 d/suid",
      "echo c > d/cap && setcap cap_net_raw+ep d/cap",
      "echo x > d/xattr && setfattr -n user.k -v v d/xattr",
      "touch -d '2001-01-01 00:00:00' d/file d/other d/suid d/cap d/xattr",
      "touch -h -d '2001-01-01 00:00:00' d/symlink d/null d/fifo");

  Scratch work;
  Path a;
  Path b;

  @BeforeEach
  void setUp() {
    Env.requireRoot("chown, mknod and setcap in the comparator's self-test");
    Env.requireTools("getfattr", "setfattr", "setcap");
    work = Scratch.create("tree");
    a = work.dir("a");
    b = work.dir("b");
    Proc.sh(TREE).dir(a).ok();
    Proc.sh(TREE).dir(b).ok();
  }

  @AfterEach
  void tearDown() {
    work.close();
  }

  private List<String> diff() {
    return RootfsTree.diff(RootfsTree.scan(a), RootfsTree.scan(b), RootfsTree.Options.exact());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "mode          | chmod 4711 d/suid                                                   | d/suid: mode",
      "setuid bit    | chmod 0755 d/suid                                                   | d/suid: mode",
      "uid           | chown -h 1:0 d/other                                                | d/other: uid",
      "gid           | chown -h 0:1 d/other                                                | d/other: gid",
      "content       | echo CONTENT > d/other.new && touch -r d/other d/other.new && mv d/other.new d/other "
          + "| d/other: sha256",
      "size          | echo longer-content > d/x && touch -r d/other d/x && mv d/x d/other | d/other: size",
      "symlink       | rm d/symlink && ln -s other d/symlink && touch -h -d '2001-01-01 00:00:00' d/symlink "
          + "| d/symlink: symlink target",
      "symlink mtime | touch -h -d '2002-01-01 00:00:00' d/symlink                         | d/symlink: mtime",
      "file mtime    | touch -d '2002-01-01 00:00:00' d/other                              | d/other: mtime",
      "hard link     | rm d/hardlink && cp -p d/file d/hardlink                            | hard link group",
      "device        | rm d/null && mknod d/null c 1 5 && touch -h -d '2001-01-01 00:00:00' d/null "
          + "| d/null: rdev",
      "capability    | setcap cap_setuid+ep d/cap                                          | d/cap: xattrs",
      "xattr         | setfattr -n user.k -v w d/xattr                                     | d/xattr: xattrs",
      "missing       | rm d/other                                                          | only in",
      "type          | rm d/fifo && mkdir d/fifo                                           | d/fifo: type",
  })
  void everyKindOfDifferenceIsReported(String what, String change, String expected) {
    assertEquals(List.of(), diff(), "identical trees");
    Proc.sh(change).dir(b).ok();
    List<String> d = diff();
    assertTrue(d.stream().anyMatch(line -> line.contains(expected)), what + ": expected '" + expected + "' in " + d);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "directory mtime | touch -d '2003-01-01 00:00:00' d/sub",
  })
  void directoryMtimesAreNotCompared(String what, String change) {
    Proc.sh(change).dir(b).ok();
    assertEquals(List.of(), diff(), what);
  }
}
