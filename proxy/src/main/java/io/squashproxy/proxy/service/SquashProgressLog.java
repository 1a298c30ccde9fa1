package io.squashproxy.proxy.service;

import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.squash.SquashListener;
import io.squashproxy.core.squash.SquashReport;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs a squash's progress per layer: at DEBUG while it is quick, at INFO once it has run for
 * {@link #QUIET_SECONDS}, so an operator watching a long squash sees it move without drowning in lines.
 */
final class SquashProgressLog implements SquashListener {
  private static final Logger LOG = LoggerFactory.getLogger(SquashProgressLog.class);
  static final long QUIET_SECONDS = 10;

  private final String image;
  private final long started = System.nanoTime();

  SquashProgressLog(String image) {
    this.image = image;
  }

  @Override
  public void layerRead(int index, int total, Descriptor layer, long uncompressedBytes) {
    log("squashing {}: read layer {}/{} ({}, {} unpacked)", image, index + 1, total, layer.digest(),
        SquashReport.bytes(uncompressedBytes));
  }

  @Override
  public void layerWritten(int index, int total, long outputBytes) {
    log("squashing {}: merged layer {}/{} ({} written)", image, index + 1, total,
        SquashReport.bytes(outputBytes));
  }

  private void log(String format, Object... args) {
    if (TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started) >= QUIET_SECONDS) {
      LOG.info(format, args);
    } else {
      LOG.debug(format, args);
    }
  }
}
