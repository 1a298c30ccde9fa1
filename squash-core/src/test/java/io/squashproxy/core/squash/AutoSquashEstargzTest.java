package io.squashproxy.core.squash;

import io.squashproxy.core.layer.Compression;

/**
 * Every {@link AutoSquashTest} case with the squashed range written as eStargz (each blob checked as such by
 * {@link io.squashproxy.core.testing.Squashing}): the kept layers stay byte-exact, only the squashed one changes.
 */
class AutoSquashEstargzTest extends AutoSquashTest {
  @Override
  Compression output() {
    return Compression.parse("estargz:1:100");
  }
}
