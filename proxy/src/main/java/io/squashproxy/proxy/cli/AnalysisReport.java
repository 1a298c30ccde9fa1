package io.squashproxy.proxy.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.ImageJson;
import io.squashproxy.core.squash.SquashReport;
import io.squashproxy.core.squash.WasteAnalysis;
import io.squashproxy.core.squash.WasteAnalysis.LayerWaste;
import io.squashproxy.core.squash.WasteAnalysis.Outcome;
import io.squashproxy.core.squash.WasteAnalysis.WastedFile;
import io.squashproxy.core.squash.WasteSlack;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code analyze} prints for one image: per layer its sizes, files and the bytes upper layers hide (as
 * dive's "wasted space"), the largest wasted files, and what each squash mode would produce. Sizes of a mode's
 * squashed layer are its exact file content; its compressed size is an estimate from the merged layers' own
 * compression ratio, marked {@code ~}.
 */
record AnalysisReport(String name, Digest digest, WasteAnalysis analysis, WasteSlack slack) {

  /** A mode's result: layers, file content, and compressed bytes (exact for kept layers, estimated for the new). */
  record ModeFigures(String mode, int keptLayers, int layers, long contentBytes, long compressedBytes) {}

  List<ModeFigures> modes() throws IOException {
    List<LayerWaste> layers = analysis.layers();
    int n = layers.size();
    int auto = analysis.autoKeep(slack);
    return List.of(
        new ModeFigures("original", n, n, analysis.contentBytes(), compressed(n, analysis.contentBytes())),
        figures("auto", auto >= n - 1 ? n : auto),
        figures("all", n <= 1 ? n : 0));
  }

  private ModeFigures figures(String mode, int keep) throws IOException {
    // One replay of the indexes per mode: the plan is the costly part of an analysis of a big image.
    Outcome o = analysis.outcome(keep);
    return new ModeFigures(mode, o.keptLayers(), o.layersAfter(), o.contentBytes(),
        compressed(keep, o.contentBytes()));
  }

  /**
   * The kept layers' compressed sizes plus the squashed rest, compressed at the ratio the rest had.
   *
   * @param contentAfter file content of the result ({@link Outcome#contentBytes})
   */
  private long compressed(int keep, long contentAfter) {
    List<LayerWaste> layers = analysis.layers();
    long kept = 0;
    long restCompressed = 0;
    long restTar = 0;
    for (LayerWaste l : layers) {
      if (l.index() < keep) {
        kept += l.layer().size();
      } else {
        restCompressed += l.layer().size();
        restTar += l.tarBytes();
      }
    }
    if (keep >= layers.size()) {
      return kept;
    }
    long restContent = contentAfter
        - layers.subList(0, keep).stream().mapToLong(LayerWaste::contentBytes).sum();
    return kept + (restTar == 0 ? 0 : Math.round((double) restCompressed * restContent / restTar));
  }

  void printText(PrintWriter out) throws IOException {
    long content = analysis.contentBytes();
    long wasted = analysis.wastedBytes();
    out.println(name + " (" + digest + ")");
    out.println(String.format(Locale.ROOT, "  %d layers, %s of files, %s wasted (efficiency %.1f%%)",
        analysis.layers().size(), SquashReport.bytes(content), SquashReport.bytes(wasted),
        content == 0 ? 100.0 : 100.0 * (content - wasted) / content));
    out.println(String.format(Locale.ROOT, "  %5s  %12s  %12s  %7s  %12s  %s", "layer", "compressed",
        "uncompressed", "files", "wasted", "hidden by"));
    for (LayerWaste l : analysis.layers()) {
      out.println(String.format(Locale.ROOT, "  %5d  %12s  %12s  %7d  %12s  %s", l.index(),
          SquashReport.bytes(l.layer().size()), SquashReport.bytes(l.tarBytes()), l.filesAdded(),
          SquashReport.bytes(l.wastedBytes()), hiders(l.wastedBy())));
    }
    if (!analysis.largestWasted().isEmpty()) {
      out.println("  largest wasted files:");
      for (WastedFile f : analysis.largestWasted()) {
        out.println(String.format(Locale.ROOT, "    %12s  %s  (added in layer %d, hidden by layer %d)",
            SquashReport.bytes(f.size()), f.path(), f.addedIn(), f.hiddenBy()));
      }
    }
    out.println("  what each mode produces (file content; compressed, ~ estimated):");
    for (ModeFigures m : modes()) {
      String what = m.mode().equals("original") ? "as pulled"
          : m.keptLayers() >= analysis.layers().size() ? "unchanged: nothing wasted beyond the slack"
          : m.keptLayers() == 0 ? "every layer squashed into one"
          : "keeps layer" + (m.keptLayers() == 1 ? " 0" : "s 0-" + (m.keptLayers() - 1)) + ", squashes " + m.keptLayers() + "-"
              + (analysis.layers().size() - 1) + " into one";
      boolean estimated = m.keptLayers() < analysis.layers().size();
      out.println(String.format(Locale.ROOT, "    %-8s  %3d layer%s  %12s  %s%-11s  %s", m.mode(), m.layers(),
          m.layers() == 1 ? " " : "s", SquashReport.bytes(m.contentBytes()), estimated ? "~" : " ",
          SquashReport.bytes(m.compressedBytes()), what));
    }
    out.flush();
  }

  private static String hiders(Map<Integer, Long> by) {
    StringBuilder sb = new StringBuilder();
    by.forEach((layer, bytes) -> sb.append(sb.length() == 0 ? "" : ", ").append("layer ").append(layer)
        .append(": ").append(SquashReport.bytes(bytes)));
    return sb.toString();
  }

  ObjectNode json() throws IOException {
    ObjectNode n = ImageJson.MAPPER.createObjectNode();
    n.put("name", name);
    n.put("digest", digest.toString());
    n.put("contentBytes", analysis.contentBytes());
    n.put("wastedBytes", analysis.wastedBytes());
    ArrayNode layers = n.putArray("layers");
    for (LayerWaste l : analysis.layers()) {
      ObjectNode j = layers.addObject();
      j.put("index", l.index());
      j.put("digest", l.layer().digest().toString());
      j.put("compressedBytes", l.layer().size());
      j.put("uncompressedBytes", l.tarBytes());
      j.put("contentBytes", l.contentBytes());
      j.put("filesAdded", l.filesAdded());
      j.put("wastedBytes", l.wastedBytes());
      ObjectNode by = j.putObject("wastedBy");
      l.wastedBy().forEach((layer, bytes) -> by.put(String.valueOf(layer), bytes));
    }
    ArrayNode files = n.putArray("largestWasted");
    for (WastedFile f : analysis.largestWasted()) {
      files.addObject().put("path", f.path()).put("size", f.size()).put("addedIn", f.addedIn())
          .put("hiddenBy", f.hiddenBy());
    }
    ObjectNode modes = n.putObject("modes");
    for (ModeFigures m : modes()) {
      modes.putObject(m.mode()).put("keptLayers", m.keptLayers()).put("layers", m.layers())
          .put("contentBytes", m.contentBytes()).put("compressedBytes", m.compressedBytes())
          .put("compressedEstimated", m.keptLayers() < analysis.layers().size());
    }
    return n;
  }
}
