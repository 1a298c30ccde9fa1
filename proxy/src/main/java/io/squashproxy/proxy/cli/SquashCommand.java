package io.squashproxy.proxy.cli;

import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layout.ArchiveListener;
import io.squashproxy.core.layout.ArchiveOptions;
import io.squashproxy.core.layout.ArchiveResult;
import io.squashproxy.core.layout.ArchiveSquasher;
import java.io.IOException;
import java.nio.file.Path;
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
        "Squashes the layers of every image in an image archive into one layer.",
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

  @Option(names = {"-k", "--keep-layers"}, paramLabel = "N", defaultValue = "0",
      description = "Keep the first N layers of each image as they are and squash the rest (default: ${DEFAULT-VALUE}).")
  int keepLayers;

  @Option(names = {"-c", "--compression"}, paramLabel = "ALGO", converter = CompressionConverter.class,
      description = "Compression of the squashed layer: gzip, gzip:LEVEL, zstd, zstd:LEVEL or none "
          + "(default: none for a docker-archive, as docker save writes; gzip for OCI).")
  Compression compression;

  @Option(names = "--work-dir", paramLabel = "DIR",
      description = "Where temporary files go (default: a temporary directory next to OUT).")
  Path workDir;

  @Override
  public Integer call() throws IOException {
    if (keepLayers < 0) {
      throw new ParameterException(spec.commandLine(), "--keep-layers must be 0 or more, got " + keepLayers);
    }
    // Progress only for a person watching: in a pipe or a log it would be noise.
    ArchiveListener progress = System.console() != null ? new TerminalProgress(System.err) : ArchiveListener.NONE;
    LOG.info("Squashing {} into {}", input, output);
    ArchiveResult result = new ArchiveSquasher(progress)
        .squash(input, output, new ArchiveOptions(keepLayers, compression, Long.MAX_VALUE), workDir);
    ReportPrinter.print(spec.commandLine().getOut(), result);
    LOG.info("Wrote {} ({})", output, result.format());
    return Main.EXIT_OK;
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
