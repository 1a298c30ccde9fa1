package io.squashproxy.tests.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.BenchTable;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageArchive;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #12 part 4: what a node receives over a series of deploys. One node store (an OCI layout that skopeo
 * copies every image into, reusing the blobs it already holds, as a node's image store does) pulls, in order,
 * several images on one base: an app's successive versions (a shared dependency layer, a new top layer each),
 * another app, and an image with the build-then-delete pattern. The same fleet is pulled straight from the
 * registry (the originals), through a proxy with {@code mode: all}, and through one with {@code mode: auto}, in
 * one run; the optimum is every original layer once with only its wasted bytes removed (from {@code analyze}).
 */
class FleetBenchmark {
  private static final String TAG = "1";
  /** Pull order: what a node sees over some weeks of deploys. */
  private static final List<String> FLEET = List.of("tools", "app-v1", "app-v2", "bloat", "app-v3", "app-v4");

  @Test
  @Timeout(value = 30, unit = TimeUnit.MINUTES)
  void bytesANodeReceivesOverDeploys() throws IOException {
    Env.requireRoot("umoci keeping owners");
    Env.requireTools("docker-registry", "umoci", "skopeo");
    try (Scratch work = Scratch.create("fleet"); AccessLogRegistry registry = AccessLogRegistry.start()) {
      Map<String, ImageBuilder> images = build();
      try {
        for (Map.Entry<String, ImageBuilder> e : images.entrySet()) {
          Skopeo.copy(e.getValue().skopeoRef(), registry.ref("fleet/" + e.getKey() + ":" + TAG), "--format", "oci");
        }
      } finally {
        images.values().forEach(ImageBuilder::close);
      }
      Fleet originals = pullFleet(work.resolve("originals"), name -> registry.ref("fleet/" + name + ":" + TAG));
      Fleet all;
      Fleet auto;
      long bloatAll;
      long bloatAuto;
      try (ProxyProcess pAll = ProxyProcess.startForBenchmark(registry.url(),
              "squash:\n  rules:\n    - {match: '**', mode: all}\n", List.of("-Xmx512m"));
          ProxyProcess pAuto = ProxyProcess.startForBenchmark(registry.url(),
              "squash:\n  rules:\n    - {match: '**', mode: auto}\n", List.of("-Xmx512m"))) {
        all = pullFleet(work.resolve("all"), name -> pAll.ref("fleet/" + name + ":" + TAG));
        auto = pullFleet(work.resolve("auto"), name -> pAuto.ref("fleet/" + name + ":" + TAG));
        // The build-then-delete image alone, on a node that has nothing yet.
        bloatAll = pullFleet(work.resolve("bloat-all"), List.of("bloat"),
            name -> pAll.ref("fleet/" + name + ":" + TAG)).total();
        bloatAuto = pullFleet(work.resolve("bloat-auto"), List.of("bloat"),
            name -> pAuto.ref("fleet/" + name + ":" + TAG)).total();
      }
      long optimum = optimum(registry);
      long update = auto.perImage().get("app-v4");
      long updateOriginal = originals.perImage().get("app-v4");
      double autoVsOptimum = auto.total() / (double) optimum;
      double autoVsOriginals = auto.total() / (double) originals.total();
      double bloat = bloatAuto / (double) bloatAll;
      new BenchTable("7-fleet", "Fleet: bytes one node receives over a series of deploys (issue #12)")
          .row("fleet, auto vs the optimum", BenchTable.mib(auto.total()), BenchTable.mib(optimum), autoVsOptimum,
              "<= 1.02", autoVsOptimum <= 1.02)
          .row("fleet, auto vs the originals", BenchTable.mib(auto.total()), BenchTable.mib(originals.total()),
              autoVsOriginals, "<= 1.00", autoVsOriginals <= 1.0)
          .row("fleet, all vs the originals", BenchTable.mib(all.total()), BenchTable.mib(originals.total()),
              all.total() / (double) originals.total(), "reported", true)
          .row("one version update (app-v4 after v3), auto vs originals", BenchTable.mib(update),
              BenchTable.mib(updateOriginal), update / (double) updateOriginal, "reported", true)
          .row("one version update, all vs originals", BenchTable.mib(all.perImage().get("app-v4")),
              BenchTable.mib(updateOriginal), all.perImage().get("app-v4") / (double) updateOriginal, "reported",
              true)
          .row("build-then-delete image alone, auto vs all", BenchTable.mib(bloatAuto), BenchTable.mib(bloatAll),
              bloat, "<= 1.02", bloat <= 1.02)
          .fact("per image, originals (MiB)", perImage(originals))
          .fact("per image, all (MiB)", perImage(all))
          .fact("per image, auto (MiB)", perImage(auto))
          .note("Images (all on one base of busybox and 24 MiB of random libraries): tools (base + 512 KiB); app-v1 "
              + "to v4 (base + an 8 MiB dependency layer shared by every version + a new 1 MiB top layer each); "
              + "bloat (base + a 32 MiB build output in one layer, deleted by the next, + 256 KiB). Pull order: "
              + String.join(", ", FLEET) + ".")
.note("Both proxies run with the tests' `--squash-wait 10m`, so every pull gets what the mode makes; with the "
              + "shipped `wait: 0s` the first pull of each new image gets the original while it is squashed (pushes "
              + "with notifications, or `/warm`, squash ahead of it).")
          .note("Bytes: layer blobs the node store did not have yet when each image was copied into it (`skopeo "
              + "copy docker://... oci:STORE:TAG`, which skips blobs the layout holds). Optimum: every distinct "
              + "original layer once, each less its wasted share (`analyze --json`: compressed size x (1 - wasted / "
              + "uncompressed)).")
          .write();
      assertEquals(FLEET.size(), auto.perImage().size());
    }
  }

  /** The fleet's images, built with umoci: every image on one base, the app versions on one dependency layer. */
  private static Map<String, ImageBuilder> build() {
    Map<String, ImageBuilder> out = new LinkedHashMap<>();
    ImageBuilder base = ImageBuilder.create("base").layer("base", String.join("\n",
        "mkdir -p bin usr/lib tmp etc",
        "cp " + Env.busybox() + " bin/busybox",
        "for a in sh ls cat; do ln -s busybox bin/$a; done",
        "head -c 25165824 /dev/urandom > usr/lib/libs.so",
        "chmod 1777 tmp"));
    try {
      out.put("tools", ImageBuilder.from(base, "tools").layer("tools", "head -c 524288 /dev/urandom > bin/tool"));
      ImageBuilder deps = ImageBuilder.from(base, "deps").layer("deps",
          "mkdir -p app/node_modules && head -c 8388608 /dev/urandom > app/node_modules/deps.js");
      try {
        for (int v = 1; v <= 4; v++) {
          out.put("app-v" + v, ImageBuilder.from(deps, "app-v" + v)
              .layer("code v" + v, "head -c 1048576 /dev/urandom > app/main.js"));
        }
      } finally {
        deps.close();
      }
      out.put("bloat", ImageBuilder.from(base, "bloat")
          .layer("build", "head -c 33554432 /dev/urandom > tmp/build.o")
          .layer("clean", "rm tmp/build.o")
          .layer("app", "head -c 262144 /dev/urandom > bin/app"));
      return out;
    } finally {
      base.close();
    }
  }

  /** Bytes of new layer blobs per image, in pull order. */
  record Fleet(Map<String, Long> perImage) {
    long total() {
      return perImage.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  private static Fleet pullFleet(Path store, java.util.function.Function<String, String> ref) {
    return pullFleet(store, FLEET, ref);
  }

  private static Fleet pullFleet(Path store, List<String> names, java.util.function.Function<String, String> ref) {
    Set<String> have = new HashSet<>();
    Map<String, Long> per = new LinkedHashMap<>();
    for (String name : names) {
      Skopeo.copy(ref.apply(name), "oci:" + store + ":" + name);
      long fresh = 0;
      for (JsonNode l : manifestOf(store, name).get("layers")) {
        if (have.add(l.get("digest").asText())) {
          fresh += l.get("size").asLong();
        }
      }
      per.put(name, fresh);
    }
    return new Fleet(per);
  }

  private static JsonNode manifestOf(Path layout, String tag) {
    try {
      JsonNode index = ImageArchive.JSON.readTree(layout.resolve("index.json").toFile());
      for (JsonNode d : index.get("manifests")) {
        if (tag.equals(d.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
          String hex = d.get("digest").asText().substring("sha256:".length());
          return ImageArchive.JSON.readTree(layout.resolve("blobs/sha256/" + hex).toFile());
        }
      }
      throw new AssertionError("no " + tag + " in " + layout);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Every distinct original layer once, less its wasted share, from {@code analyze --json} of each image. */
  private static long optimum(AccessLogRegistry registry) throws IOException {
    Map<String, Double> layers = new HashMap<>();
    for (String name : FLEET) {
      String json = Proc.of(Env.java().toString(), "-jar", Env.squashJar().toString(), "analyze",
          "fleet/" + name + ":" + TAG, "--upstream", registry.url(), "--json").ok().stdout();
      for (JsonNode l : ImageArchive.JSON.readTree(json).get("images").get(0).get("layers")) {
        double kept = 1 - l.get("wastedBytes").asDouble() / Math.max(1, l.get("uncompressedBytes").asDouble());
        layers.put(l.get("digest").asText(), l.get("compressedBytes").asDouble() * kept);
      }
    }
    return Math.round(layers.values().stream().mapToDouble(Double::doubleValue).sum());
  }

  private static String perImage(Fleet f) {
    StringBuilder sb = new StringBuilder();
    f.perImage().forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(' ')
        .append(String.format("%.1f", v / 1048576.0)));
    return sb.toString();
  }
}
