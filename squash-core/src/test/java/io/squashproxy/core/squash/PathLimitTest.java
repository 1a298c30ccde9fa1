package io.squashproxy.core.squash;

import static io.squashproxy.core.testing.LayerBuilder.layer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.core.testing.FastTempDirs;
import io.squashproxy.core.testing.Squashing;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SquashOptions.PathLimit}: an image with more tar members than the limit fails as unsupported (a caller
 * serves it unsquashed) in every way of squashing, naming the layer where the count went past, the limit and what
 * sets it; an image at the limit squashes to the same image as without one.
 */
class PathLimitTest {

  @TempDir(factory = FastTempDirs.class)
  Path work;

  /** Three layers of 3, 4 and 2 members: 9 paths in all, 7 after the second layer. */
  static TestImage image() {
    return TestImage.oci()
        .layer(layer().dir("etc").file("etc/hosts", "127.0.0.1").file("etc/os-release", "debian"))
        .layer(layer().dir("app").file("app/a", "a").file("app/b", "b").file("etc/hosts", "changed"))
        .layer(layer().whiteout("app/a").file("app/c", "c"))
        .build();
  }

  static Stream<SquashOptions> ways() {
    SquashOptions all = SquashOptions.DEFAULT;
    return Stream.of(all, all.withKeepLayers(1), SquashOptions.auto(new WasteSlack(0, 0), all.compression(),
        Long.MAX_VALUE));
  }

  @ParameterizedTest
  @MethodSource("ways")
  void moreMembersThanTheLimitIsUnsupportedNamingLimitAndSetting(SquashOptions way) throws IOException {
    SquashOptions options = way.withPathLimit(new SquashOptions.PathLimit(6, "limits.maxPathsPerSquash"));
    SquashException e = assertThrows(SquashException.class, () -> Squashing.squash(image(), options, work));
    assertTrue(e.unsupported(), e.getMessage());
    // The layer where the count went past: the one pass reads from the top, the others from the bottom.
    int at = way.equals(SquashOptions.DEFAULT) ? 0 : 1;
    assertTrue(e.getMessage().startsWith("layer " + at + " (" + image().layerDigests().get(at) + ")"),
        e.getMessage());
    assertTrue(e.getMessage().contains("more than 6 paths, the most one squash may hold (limits.maxPathsPerSquash)"),
        e.getMessage());
    assertEquals(List.of(), Squashing.leftovers(work));
  }

  @ParameterizedTest
  @MethodSource("ways")
  void anImageAtTheLimitSquashesAsWithout(SquashOptions way) throws IOException {
    Squashing.Squashed limited = Squashing.squash(image(), way.withPathLimit(new SquashOptions.PathLimit(9, "x")),
        work.resolve("a"));
    Squashing.Squashed free = Squashing.squash(image(), way, work.resolve("b"));
    assertTrue(limited.result().squashed());
    assertEquals(free.result().manifestDigest(), limited.result().manifestDigest());
  }

  @Test
  void aLimitBelowOneIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new SquashOptions.PathLimit(0, "x"));
    assertTrue(e.getMessage().contains("at least 1"), e.getMessage());
  }
}
