package io.squashproxy.proxy.admin;

import io.squashproxy.core.squash.SquashReport;
import io.squashproxy.proxy.service.BackgroundSquashes;
import io.squashproxy.proxy.service.ProxyStats;
import io.squashproxy.proxy.service.RefusedImages;
import io.squashproxy.proxy.store.ContentStore;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.store.TagStore;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * The admin listener's front page: what the cache holds and what squashing saved. Plain HTML with an
 * inline SVG chart, readable without JavaScript (and without network: no external assets).
 */
public final class StatusPage {
  /** Images listed (largest savings first); the totals cover all. */
  static final int MAX_ROWS = 500;
  static final int CHART_BARS = 12;

  private final ImageRows rows;
  private final ProxyStats stats;
  private final ContentStore store;
  private final RefusedImages refused;
  private final BackgroundSquashes background;

  /** @param storage where the indexes are read from, to name the platforms of an index */
  public StatusPage(SquashRecords records, TagStore tags, Storage storage, ProxyStats stats,
      RefusedImages refused) {
    this(records, tags, storage, stats, refused, null);
  }

  /** @param background squashes no client waits for (null: none shown) */
  public StatusPage(SquashRecords records, TagStore tags, Storage storage, ProxyStats stats,
      RefusedImages refused, BackgroundSquashes background) {
    this.rows = new ImageRows(records, tags, storage);
    this.stats = stats;
    this.store = storage.local();
    this.refused = refused;
    this.background = background;
  }

  public String render() {
    List<ImageRow> images = rows.rows().stream()
        .sorted(Comparator.comparingLong(ImageRow::saved).reversed().thenComparing(ImageRow::name)
            .thenComparing(ImageRow::platform))
        .toList();
    long before = images.stream().mapToLong(ImageRow::bytesBefore).sum();
    long after = images.stream().mapToLong(ImageRow::bytesAfter).sum();
    StringBuilder h = new StringBuilder(8192);
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<title>Squash Proxy</title><style>")
        .append("body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}")
        .append("table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ddd;")
        .append("text-align:right}th:first-child,td:first-child{text-align:left}")
        .append(".totals td{font-weight:bold}.muted{color:#777}")
        .append("</style></head><body>\n<h1>Squash Proxy</h1>\n");
    long unchanged = images.stream().filter(ImageRow::unchanged).count();
    h.append("<p id=\"summary\">").append(images.size() - unchanged).append(" squashed images cached, ")
        .append(unchanged).append(" kept as they are (nothing wasted); ")
        .append(esc(SquashReport.bytes(before))).append(" &rarr; ").append(esc(SquashReport.bytes(after)))
        .append(", saved <strong>").append(esc(SquashReport.bytes(before - after))).append("</strong> (")
        .append(percent(before, after)).append(").</p>\n");
    h.append("<p class=\"muted\">Cache: ").append(store.blobCount()).append(" blobs, ")
        .append(esc(SquashReport.bytes(store.blobBytes()))).append("; squashes since start: ")
        .append(stats.squashes.sum()).append(", failed: ").append(stats.squashFailures.sum())
        .append(", running: ").append(stats.squashesInFlight.sum()).append(".</p>\n");
    BackgroundSquashesSection.render(h, background);
    chart(h, images);
    h.append("<table id=\"images\"><thead><tr><th>Image</th><th>Platform</th><th>Layers</th><th>Kept</th>")
        .append("<th>Squashed</th><th>Waste found</th><th>Size before</th><th>Size after</th><th>Saved</th></tr>")
        .append("</thead><tbody>\n");
    for (ImageRow r : images.subList(0, Math.min(images.size(), MAX_ROWS))) {
      h.append("<tr><td class=\"image\">").append(esc(r.name())).append("<br><span class=\"muted\">")
          .append(esc(ImageRow.shortDigest(r.source()))).append(" &rarr; ")
          .append(esc(ImageRow.shortDigest(r.manifest()))).append("</span></td><td class=\"platform\">")
          .append(esc(r.platform())).append("</td><td>")
          .append(r.layersBefore()).append(" &rarr; ").append(r.layersAfter()).append("</td><td>")
          .append(kept(r)).append("</td><td>").append(squashed(r)).append("</td><td>")
          .append(r.wastedBytes() < 0 ? "?" : esc(SquashReport.bytes(r.wastedBytes()))).append("</td><td>")
          .append(esc(SquashReport.bytes(r.bytesBefore()))).append("</td><td>")
          .append(esc(SquashReport.bytes(r.bytesAfter()))).append("</td><td>")
          .append(percent(r.bytesBefore(), r.bytesAfter())).append("</td></tr>\n");
    }
    long waste = images.stream().mapToLong(r -> Math.max(0, r.wastedBytes())).sum();
    h.append("<tr class=\"totals\"><td>Total</td><td></td><td></td><td></td><td></td><td>")
        .append(esc(SquashReport.bytes(waste))).append("</td><td>").append(esc(SquashReport.bytes(before)))
        .append("</td><td>").append(esc(SquashReport.bytes(after))).append("</td><td>")
        .append(percent(before, after)).append("</td></tr>\n</tbody></table>\n");
    if (images.size() > MAX_ROWS) {
      h.append("<p class=\"muted\">Showing the ").append(MAX_ROWS).append(" largest savings of ")
          .append(images.size()).append(".</p>\n");
    }
    refusals(h);
    h.append("<p class=\"muted\"><a href=\"/metrics\">metrics</a> &middot; <a href=\"/healthz\">healthz</a>")
        .append(" &middot; <a href=\"/readyz\">readyz</a></p>\n</body></html>\n");
    return h.toString();
  }

  /** Broken images whose refusal is remembered: pulls of them are answered without reading them again. */
  private void refusals(StringBuilder h) {
    List<RefusedImages.Refusal> all = refused.all();
    if (all.isEmpty()) {
      return;
    }
    h.append("<h2>Refused images</h2>\n<p class=\"muted\">Broken upstream images, refused with MANIFEST_INVALID. ")
        .append("Their refusal is remembered for ").append(refused.ttl().toMinutes())
        .append(" minutes (answered ").append(refused.repeated()).append(" times from memory); a new digest for ")
        .append("the tag is tried at once.</p>\n<table id=\"refused\"><thead><tr><th>Image</th><th>Reason</th>")
        .append("</tr></thead><tbody>\n");
    for (RefusedImages.Refusal r : all.subList(0, Math.min(all.size(), MAX_ROWS))) {
      h.append("<tr><td>").append(esc(r.image())).append("</td><td style=\"text-align:left\">")
          .append(esc(r.message())).append("</td></tr>\n");
    }
    h.append("</tbody></table>\n");
  }

  /** Horizontal bars of bytes saved, largest first. */
  private static void chart(StringBuilder h, List<ImageRow> images) {
    List<ImageRow> top = images.subList(0, Math.min(images.size(), CHART_BARS));
    if (top.isEmpty()) {
      h.append("<p id=\"empty\">Nothing squashed yet: pull an image through the proxy.</p>\n");
      return;
    }
    long max = Math.max(1, top.stream().mapToLong(ImageRow::saved).max().orElse(1));
    int rowHeight = 22;
    int labelWidth = 260;
    int barWidth = 420;
    h.append("<svg id=\"chart\" role=\"img\" aria-label=\"bytes saved per image\" width=\"")
        .append(labelWidth + barWidth + 110).append("\" height=\"").append(rowHeight * top.size() + 8)
        .append("\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">\n")
        .append("<title>Bytes saved per image</title>\n");
    for (int i = 0; i < top.size(); i++) {
      ImageRow r = top.get(i);
      long saved = Math.max(0, r.saved());
      int w = (int) Math.round((double) barWidth * saved / max);
      int y = i * rowHeight + 4;
      h.append("<text x=\"").append(labelWidth - 6).append("\" y=\"").append(y + 14)
          .append("\" text-anchor=\"end\">").append(esc(shorten(label(r), 36))).append("</text>")
          .append("<rect x=\"").append(labelWidth).append("\" y=\"").append(y).append("\" width=\"")
          .append(Math.max(1, w)).append("\" height=\"").append(rowHeight - 6)
          .append("\" fill=\"#3b82f6\"/>")
          .append("<text x=\"").append(labelWidth + Math.max(1, w) + 6).append("\" y=\"").append(y + 14)
          .append("\">").append(esc(SquashReport.bytes(saved))).append("</text>\n");
    }
    h.append("</svg>\n");
  }

  /** Layers kept as they were (shared with other images); "all" for an image left as it is. */
  private static String kept(ImageRow r) {
    if (r.unchanged()) {
      return "all";
    }
    return r.keptLayers() < 0 ? "?" : String.valueOf(r.keptLayers());
  }

  /** Layers merged into the squashed one. */
  private static String squashed(ImageRow r) {
    if (r.unchanged()) {
      return "none";
    }
    return r.keptLayers() < 0 ? "?" : (r.layersBefore() - r.keptLayers()) + " &rarr; 1";
  }

  /** The chart's label: the repository and tag without the upstream, and the platform if any. */
  private static String label(ImageRow r) {
    String name = r.name().substring(r.name().indexOf('/') + 1);
    return r.platform().isEmpty() ? name : name + " " + r.platform();
  }

  private static String percent(long before, long after) {
    return before == 0 ? "0%" : String.format(Locale.ROOT, "%.1f%%", 100.0 * (before - after) / before);
  }

  private static String shorten(String s, int max) {
    return s.length() <= max ? s : "\u2026" + s.substring(s.length() - max + 1);
  }

  static String esc(String s) {
    StringBuilder out = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '&' -> out.append("&amp;");
        case '"' -> out.append("&quot;");
        case '\'' -> out.append("&#39;");
        default -> out.append(c);
      }
    }
    return out.toString();
  }
}
