package io.squashproxy.proxy.cli;

import io.squashproxy.core.layout.ArchiveResult;
import io.squashproxy.core.layout.ImageOutcome;
import io.squashproxy.core.squash.SquashReport;
import java.io.PrintWriter;
import java.util.Locale;

/** The per-image report of {@code squash}: the one-line summary, then exact numbers and the new digests. */
final class ReportPrinter {
  private ReportPrinter() {}

  static void print(PrintWriter out, ArchiveResult result) {
    for (ImageOutcome image : result.images()) {
      out.println(image.name() + ":");
      switch (image.kind()) {
        case SQUASHED -> squashed(out, image.report());
        case NOTHING_TO_SQUASH -> out.println("  nothing to squash (" + image.report().layersBefore()
            + " layer" + (image.report().layersBefore() == 1 ? "" : "s") + "), copied as it was");
        case NOT_AN_IMAGE -> out.println("  not a container image (artifact or attestation), copied as it was");
      }
      out.println("  manifest:           " + image.manifestDigest());
      if (image.configDigest() != null) {
        out.println("  config:             " + image.configDigest());
      }
    }
    long squashed = result.images().stream().filter(ImageOutcome::squashed).count();
    out.println("wrote " + result.output() + " (" + result.format() + ", " + squashed + " of "
        + result.images().size() + " image" + (result.images().size() == 1 ? "" : "s") + " squashed)");
    out.flush();
  }

  private static void squashed(PrintWriter out, SquashReport r) {
    out.println("  " + r.summary());
    out.println("  layers:             " + r.layersBefore() + " -> " + r.layersAfter());
    out.println("  compressed bytes:   " + r.compressedBytesBefore() + " -> " + r.compressedBytesAfter());
    out.println("  uncompressed bytes: " + r.uncompressedBytesBefore() + " -> " + r.uncompressedBytesAfter());
    out.println(String.format(Locale.ROOT, "  bytes saved:        %d (%.1f%%)", r.bytesSaved(), r.percentSaved()));
    out.println(String.format(Locale.ROOT, "  time:               %.3f s", r.elapsed().toMillis() / 1000.0));
  }
}
