package io.squashproxy.proxy.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.config.ConfigException;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.layout.ArchiveAnalyzer;
import io.squashproxy.core.squash.LayerIndexStore;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.core.squash.SquashListener;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.core.squash.WasteAnalysis;
import io.squashproxy.core.squash.WasteSlack;
import io.squashproxy.proxy.app.ServeCommand;
import io.squashproxy.proxy.app.SquashProxy;
import io.squashproxy.proxy.service.Upstreams;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code analyze}: where an image wastes bytes, and what each squash mode would make of it. */
@Command(
    name = "analyze",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Shows where an image wastes bytes (files a layer adds and an upper layer deletes, overwrites or hides),",
        "per layer and file, and what each squash mode would produce. IMAGE is a docker-archive (docker save), an",
        "OCI layout directory, an OCI archive, or a registry reference read through the configured upstreams",
        "([host/]repository[:tag|@digest], routed as pulls through the proxy are)."})
final class AnalyzeCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Parameters(index = "0", paramLabel = "IMAGE", description = "A file, an OCI layout directory or a reference.")
  String image;

  @Option(names = "--config", paramLabel = "FILE",
      description = "The proxy's YAML config: its upstreams (and credentials) and its auto slack are used.")
  Path config;

  @Option(names = "--upstream", paramLabel = "URL", description = "The one upstream registry (replaces the config's).")
  String upstream;

  @Option(names = "--platform", paramLabel = "OS/ARCH", defaultValue = "linux/amd64",
      description = "The image to pick from a multi-platform index (default: ${DEFAULT-VALUE}).")
  String platform;

  @Option(names = "--waste-slack", paramLabel = "SIZE", converter = SquashCommand.SizeConverter.class,
      description = "Waste a layer may carry and still be kept by mode auto (default: the config's rule, else 1MiB).")
  Long wasteSlack;

  @Option(names = "--waste-slack-percent", paramLabel = "N",
      description = "The same as a share of the layer's size (default: the config's rule, else 1).")
  Double wasteSlackPercent;

  @Option(names = "--json", description = "One JSON document for scripts instead of text.")
  boolean json;

  @Override
  public Integer call() throws IOException {
    return OutOfMemory.guard(this::analyze, () -> OutOfMemory.error(image, null, false, "analyze"));
  }

  private Integer analyze() throws IOException {
    ProxyConfig cfg = config();
    WasteSlack slack = SquashCommand.slack(spec, wasteSlack, wasteSlackPercent, ruleSlack(cfg));
    List<AnalysisReport> reports = new ArrayList<>();
    Path asFile = Path.of(image);
    if (Files.exists(asFile)) {
      for (ArchiveAnalyzer.AnalyzedImage a : new ArchiveAnalyzer().analyze(asFile)) {
        reports.add(new AnalysisReport(a.name(), Digest.sha256(a.manifest()), a.analysis(), slack));
      }
    } else {
      try (Upstreams upstreams = SquashProxy.upstreams(cfg)) {
        RegistryImage img = RegistryImage.fetch(upstreams, image, platform);
        WasteAnalysis analysis;
        try {
          analysis = new Squasher(SquashListener.NONE, io.squashproxy.core.layer.CompressionPool.shared(),
              LayerIndexStore.NONE).analyze(img.manifest(), img.blobs(), Long.MAX_VALUE);
        } catch (SquashException | io.squashproxy.core.image.InvalidImageException e) {
          throw new IOException("image " + img.name() + " (" + img.digest() + "): " + e.getMessage(), e);
        }
        reports.add(new AnalysisReport(img.name(), img.digest(), analysis, slack));
      }
    }
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      ObjectNode doc = ImageJson.MAPPER.createObjectNode();
      ArrayNode images = doc.putArray("images");
      for (AnalysisReport r : reports) {
        images.add(r.json());
      }
      out.println(ImageJson.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(doc));
      out.flush();
    } else {
      for (AnalysisReport r : reports) {
        r.printText(out);
      }
    }
    return Main.EXIT_OK;
  }

  private ProxyConfig config() throws IOException {
    try {
      ProxyConfig c = config == null ? ProxyConfig.defaults() : ConfigLoader.load(config);
      if (upstream == null) {
        return c;
      }
      return new ProxyConfig(c.listen(), c.tls(), c.admin(), List.of(ServeCommand.upstreamFlag(upstream)),
          c.cache(), c.squash(), c.limits(), c.logging(), c.auth(), c.storage()).withDefaults();
    } catch (ConfigException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  /** The slack of the first auto rule in the config, for analysing an image as the proxy would squash it. */
  private static WasteSlack ruleSlack(ProxyConfig cfg) {
    for (ProxyConfig.Rule r : cfg.squash().rules()) {
      if (r.mode() == null || r.mode().equals("auto")) {
        return new WasteSlack(
            (r.wasteSlack() == null ? ProxyConfig.DEFAULT_WASTE_SLACK : r.wasteSlack()).bytes(),
            r.wasteSlackPercent() == null ? ProxyConfig.DEFAULT_WASTE_SLACK_PERCENT : r.wasteSlackPercent());
      }
    }
    return WasteSlack.DEFAULT;
  }
}
