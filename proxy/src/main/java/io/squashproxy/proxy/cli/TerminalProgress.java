package io.squashproxy.proxy.cli;

import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layout.ArchiveListener;
import io.squashproxy.core.layout.ImageOutcome;
import io.squashproxy.core.squash.SquashReport;
import java.io.PrintStream;

/** One progress line on a terminal, rewritten in place for each layer read and written. */
final class TerminalProgress implements ArchiveListener {
  private static final int WIDTH = 100;

  private final PrintStream err;
  private String image = "";
  private int shown;

  TerminalProgress(PrintStream err) {
    this.err = err;
  }

  @Override
  public void imageStarted(String name) {
    image = name;
    show(name + ": reading layers");
  }

  @Override
  public void layerRead(int index, int total, Descriptor layer, long uncompressedBytes) {
    show(image + ": read layer " + (index + 1) + "/" + total + " (" + SquashReport.bytes(uncompressedBytes) + ")");
  }

  @Override
  public void layerWritten(int index, int total, long outputBytes) {
    show(image + ": merged layer " + (index + 1) + "/" + total + ", " + SquashReport.bytes(outputBytes)
        + " written");
  }

  @Override
  public void imageFinished(ImageOutcome outcome) {
    show("");
  }

  private void show(String text) {
    String line = text.length() > WIDTH ? text.substring(0, WIDTH - 3) + "..." : text;
    // Pad over the previous, longer line; a carriage return keeps it on one terminal row.
    err.print("\r" + line + " ".repeat(Math.max(0, shown - line.length())) + (line.isEmpty() ? "\r" : ""));
    err.flush();
    shown = line.length();
  }
}
