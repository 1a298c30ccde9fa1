package io.squashproxy.proxy.cli;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layout.ArchiveListener;
import io.squashproxy.core.layout.ArchiveOptions;
import io.squashproxy.core.layout.ArchiveResult;
import io.squashproxy.core.layout.ArchiveSquasher;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.squash.WasteSlack;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code squash}: squashes every image of an offline archive (docker-archive, OCI layout or OCI archive). */
@Command(
    name = "squash",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Squashes the layers of every image in an image archive into one layer (--mode auto: only from the first",
        "layer that wastes bytes, keeping the layers below shared).",
        "IN may be a docker-archive (docker save), an OCI image layout directory or an OCI archive "
            + "(a tar of a layout); OUT is written in the same format, all at once or not at all."})
final class SquashCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(SquashCommand.class);

  @Spec
  CommandSpec spec;

  @Option(names = {"-i", "--input"}, required = true, paramLabel = "IN",
      description = "The archive file or OCI layout directory to read.")
  Path input;

  @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT",
      description = "Where to write the squashed archive (an existing file is replaced; an OCI layout "
          + "needs a new or empty directory).")
  Path output;

  enum Mode { all, auto }

  @Option(names = "--mode", paramLabel = "MODE", defaultValue = "all",
      description = "all: every layer into one (default); auto: keep each layer from the bottom while it wastes "
          + "at most the slack, squash from the first that wastes more; an image that wastes nothing stays as it is.")
  Mode mode;

  @Option(names = "--waste-slack", paramLabel = "SIZE", converter = SizeConverter.class,
      description = "With --mode auto: wasted bytes a kept layer may carry (default 1MiB).")
  Long wasteSlack;

  @Option(names = "--waste-slack-percent", paramLabel = "N",
      description = "With --mode auto: the same as a share of the layer's uncompressed size, 0-100 (default 1); "
          + "whichever of the two allows more applies.")
  Double wasteSlackPercent;

  @Option(names = {"-k", "--keep-layers"}, paramLabel = "N", defaultValue = "0",
      description = "Keep the first N layers of each image as they are and squash the rest (default: ${DEFAULT-VALUE}).")
  int keepLayers;

  @Option(names = {"-c", "--compression"}, paramLabel = "ALGO", converter = CompressionConverter.class,
      description = "Compression of the squashed layer: gzip, gzip:LEVEL, zstd, zstd:LEVEL, none, or estargz, "
          + "estargz:LEVEL (gzip that stargz-snapshotter can pull lazily, with its TOC annotations in an OCI "
          + "manifest) (default: none for a docker-archive, as docker save writes; gzip for OCI).")
  Compression compression;

  @Option(names = "--estargz-chunk-size", paramLabel = "SIZE", converter = SizeConverter.class,
      description = "With --compression estargz: files larger than this are split into chunks of it, each "
          + "fetched on its own (default 4MiB, as stargz-snapshotter).")
  Long estargzChunkSize;

  @Option(names = "--prioritize", paramLabel = "PATH",
      description = "With --compression estargz: put PATH (with its parent directories) first in the squashed "
          + "layer, before the prefetch landmark, so stargz-snapshotter fetches it before the container starts "
          + "(the entrypoint, what it loads). Repeatable; paths the squashed layer lacks are skipped.")
  List<String> prioritize;

  @Option(names = "--max-paths", paramLabel = "N",
      description = "Stop with an error naming the image when it has more than N paths (tar members over all "
          + "layers), before the heap runs out (default: no limit). The squash needs about 200 bytes of heap a "
          + "path, up to 430 with --keep-layers or --mode auto: raise -Xmx (JAVA_TOOL_OPTIONS) for bigger images.")
  Long maxPaths;

  @Option(names = "--work-dir", paramLabel = "DIR",
      description = "Where temporary files go (default: a temporary directory next to OUT).")
  Path workDir;

  @Override
  public Integer call() throws IOException {
    if (keepLayers < 0) {
      throw new ParameterException(spec.commandLine(), "--keep-layers must be 0 or more, got " + keepLayers);
    }
    if (mode != Mode.auto && (wasteSlack != null || wasteSlackPercent != null)) {
      throw new ParameterException(spec.commandLine(), "--waste-slack and --waste-slack-percent go with --mode auto");
    }
    if (mode == Mode.auto && keepLayers != 0) {
      throw new ParameterException(spec.commandLine(), "--keep-layers and --mode auto exclude each other: auto "
          + "decides what to keep");
    }
    if (maxPaths != null && maxPaths < 1) {
      throw new ParameterException(spec.commandLine(), "--max-paths must be at least 1, got " + maxPaths);
    }
    boolean estargz = compression != null && compression.algorithm() == Compression.Algorithm.ESTARGZ;
    if (!estargz && (estargzChunkSize != null || prioritize != null)) {
      throw new ParameterException(spec.commandLine(), "--estargz-chunk-size and --prioritize go with "
          + "--compression estargz");
    }
    Compression chosen = compression;
    if (estargzChunkSize != null) {
      if (estargzChunkSize < 1 || estargzChunkSize > Integer.MAX_VALUE - 8) {
        throw new ParameterException(spec.commandLine(), "--estargz-chunk-size must be 1 byte to 2GiB, got "
            + estargzChunkSize);
      }
      chosen = compression.withChunkSize(estargzChunkSize.intValue());
    }
    ArchiveOptions options = new ArchiveOptions(keepLayers, chosen, Long.MAX_VALUE);
    if (prioritize != null) {
      try {
        options = options.withPrioritized(prioritize);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), "--prioritize: " + e.getMessage());
      }
    }
    if (maxPaths != null) {
      options = options.withPathLimit(new SquashOptions.PathLimit(maxPaths, "--max-paths"));
    }
    if (mode == Mode.auto) {
      options = options.withAuto(slack(spec, wasteSlack, wasteSlackPercent, WasteSlack.DEFAULT));
    }
    // Progress only for a person watching: in a pipe or a log it would be noise.
    ArchiveListener progress = System.console() != null ? new TerminalProgress(System.err) : ArchiveListener.NONE;
    LOG.info("Squashing {} into {}", input, output);
    OutOfMemory.Watch watch = new OutOfMemory.Watch(progress);
    ArchiveOptions squashOptions = options; // effectively final, for the lambda
    ArchiveResult result = OutOfMemory.guard(
        () -> new ArchiveSquasher(watch).squash(input, output, squashOptions, workDir),
        () -> OutOfMemory.error(input, watch.image(), maxPaths != null));
    ReportPrinter.print(spec.commandLine().getOut(), result);
    LOG.info("Wrote {} ({})", output, result.format());
    return Main.EXIT_OK;
  }

  /** The slack from the flags, each defaulting to {@code defaults}'; an impossible one is a usage error. */
  static WasteSlack slack(CommandSpec spec, Long bytes, Double percent, WasteSlack defaults) {
    try {
      return new WasteSlack(bytes != null ? bytes : defaults.bytes(), percent != null ? percent : defaults.percent());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** Sizes as in the config ({@code 512KiB}, {@code 1MiB}, a plain number of bytes). */
  static final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
      try {
        return io.squashproxy.config.ByteSize.parse(value).bytes();
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** Turns a bad --compression value into a usage error (exit 2) with the parser's message. */
  static final class CompressionConverter implements CommandLine.ITypeConverter<Compression> {
    @Override
    public Compression convert(String value) {
      try {
        return Compression.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }
}
