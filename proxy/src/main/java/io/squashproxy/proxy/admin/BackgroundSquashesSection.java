package io.squashproxy.proxy.admin;

import io.squashproxy.proxy.service.BackgroundSquashes;
import io.squashproxy.proxy.service.BackgroundSquashes.Entry;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** The status page's part on background squashes: counts by state, then each queued, running, finished. */
final class BackgroundSquashesSection {
  private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_INSTANT;

  private BackgroundSquashesSection() {}

  static void render(StringBuilder h, BackgroundSquashes background) {
    if (background == null) {
      return;
    }
    h.append("<p id=\"background\">Background squashes (pulls that got the original image while it was "
        + "squashed): ").append(background.queued()).append(" queued, ").append(background.running())
        .append(" running, ").append(background.finished()).append(" finished.</p>\n");
    var entries = background.entries();
    if (entries.isEmpty()) {
      return;
    }
    h.append("<table id=\"background-squashes\"><thead><tr><th>Image</th><th>State</th><th>Since</th>")
        .append("<th>Outcome</th></tr></thead><tbody>\n");
    for (Entry e : entries) {
      h.append("<tr><td>").append(StatusPage.esc(e.image())).append("</td><td>")
          .append(e.state().name().toLowerCase(Locale.ROOT)).append("</td><td>")
          .append(TIME.format(e.since())).append("</td><td>")
          .append(e.outcome() == null ? "" : StatusPage.esc(e.outcome())).append("</td></tr>\n");
    }
    h.append("</tbody></table>\n");
  }
}
