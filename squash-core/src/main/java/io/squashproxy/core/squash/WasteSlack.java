package io.squashproxy.core.squash;

import java.util.Locale;

/**
 * How much waste the {@code auto} squash tolerates in a layer it keeps. A layer is kept as it is (and so stays
 * shared with every image built on it) while the bytes of it that upper layers hide are at most {@code bytes},
 * or at most {@code percent} of its uncompressed size, whichever allows more. The first layer that wastes more
 * is squashed together with everything above it. The slack exists for the few KiB every {@code apt-get
 * install} rewrites in a base ({@code /var/lib/dpkg/status}): squashing the base over them would cost every node
 * its shared copy of the base.
 *
 * @param bytes wasted bytes a kept layer may carry whatever its size
 * @param percent wasted share of a layer's uncompressed size a kept layer may carry, 0 to 100
 */
public record WasteSlack(long bytes, double percent) {

  /** The defaults of {@code mode: auto}: 1 MiB or 1%. */
  public static final WasteSlack DEFAULT = new WasteSlack(1L << 20, 1.0);

  public WasteSlack {
    if (bytes < 0) {
      throw new IllegalArgumentException("waste slack must be >= 0 bytes, not " + bytes);
    }
    if (!(percent >= 0 && percent <= 100)) {
      throw new IllegalArgumentException("waste slack percent must be between 0 and 100, not " + percent);
    }
  }

  /** The wasted bytes a layer of {@code layerBytes} uncompressed may carry and still be kept. */
  public long allowance(long layerBytes) {
    return Math.max(bytes, (long) Math.floor(layerBytes * percent / 100.0));
  }

  /** Stable text for squash records and image history; changes whenever the decision may. */
  public String describe() {
    return bytes + "B/" + String.format(Locale.ROOT, "%s", percent) + "%";
  }
}
