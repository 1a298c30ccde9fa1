package io.squashproxy.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The status page names each row as it was pulled: tag or digest, and the platform of an index's image. */
class StatusPageTest {
  @TempDir
  Path dir;

  private static final Pattern ROW = Pattern.compile(
      "<tr><td class=\"image\">([^<]*)<br>.*?</td><td class=\"platform\">([^<]*)</td>");

  @Test
  void rowsNameTheTagOrDigestAndThePlatform() throws Exception {
    InMemoryRegistry up = new InMemoryRegistry("up");
    // One image built for two platforms: the same layers, configs that differ only in the architecture.
    TestImage amd = image("amd64");
    TestImage arm = image("arm64");
    Digest amdDigest = up.push("team/multi", null, amd);
    Digest armDigest = up.push("team/multi", null, arm);
    ObjectNode index = ImageJson.MAPPER.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", MediaTypes.OCI_INDEX);
    var entries = index.putArray("manifests");
    entries.add(entry(amdDigest, amd.manifest().length, "amd64", null));
    entries.add(entry(armDigest, arm.manifest().length, "arm64", "v8"));
    up.pushManifest("team/multi", "2.0", ImageJson.write(index), MediaTypes.OCI_INDEX);
    up.push("team/single", "1.0", TestImage.oci().layer(LayerBuilder.layer().file("s", "1"))
        .layer(LayerBuilder.layer().file("t", "2")).build());
    Digest moved = up.push("team/moved", "1", TestImage.oci().layer(LayerBuilder.layer().file("u", "1"))
        .layer(LayerBuilder.layer().file("v", "2")).build());

    try (ProxyHarness h = new ProxyHarness(up, dir.resolve("cache"))) {
      h.service.manifest(h.route("team/multi"), "2.0").join();
      h.service.manifest(h.route("team/single"), "1.0").join();
      h.service.manifest(h.route("team/moved"), "1").join();
      // The tag moves on: the image squashed before is now known by its digest only.
      up.push("team/moved", "1", TestImage.oci().layer(LayerBuilder.layer().file("u", "2"))
          .layer(LayerBuilder.layer().file("v", "3")).build());
      h.advance(java.time.Duration.ofMinutes(6));
      h.service.manifest(h.route("team/moved"), "1").join();

      String html = new StatusPage(h.records, h.tags, h.store, h.stats, h.service.refused()).render();
      List<String> rows = ROW.matcher(html).results().map(m -> m.group(1) + " | " + m.group(2)).sorted().toList();
      assertEquals(List.of(
          "up/team/moved:1 | ",
          "up/team/moved@" + moved.toString().substring(0, 19) + "\u2026 | ",
          "up/team/multi:2.0 | linux/amd64",
          "up/team/multi:2.0 | linux/arm64/v8",
          "up/team/single:1.0 | "), rows, html);
      assertTrue(html.contains("5 squashed images cached"), html);
    }
  }

  private static TestImage image(String arch) {
    return TestImage.oci().editConfig(c -> c.put("architecture", arch)).layer(LayerBuilder.layer().file("etc/os-release", "ID=x"))
        .layer(LayerBuilder.layer().file("app", "1")).build();
  }

  private static ObjectNode entry(Digest d, long size, String arch, String variant) {
    ObjectNode e = ImageJson.MAPPER.createObjectNode();
    e.put("mediaType", MediaTypes.OCI_MANIFEST);
    e.put("digest", d.toString());
    e.put("size", size);
    ObjectNode p = e.putObject("platform").put("os", "linux").put("architecture", arch);
    if (variant != null) {
      p.put("variant", variant);
    }
    return e;
  }
}
