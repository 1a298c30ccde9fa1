package io.squashproxy.proxy.service;

import io.squashproxy.config.ProxyConfig;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.squash.WasteSlack;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One squash rule: repositories matching {@code glob} are squashed this way. {@code *} matches within a
 * name component, {@code **} across components.
 *
 * @param mode auto (keep the layers that waste nothing, squash from the first that does; an image that wastes
 *     nothing is served as it is), off (pass through), all (one layer), keep (the first {@code keepLayers}
 *     stay), or base (the layers shared with {@code baseImage} stay)
 * @param platforms {@code os/arch[/variant]} entries of an index to squash; empty for all
 * @param slack with auto: the waste a kept layer may carry
 * @param squashWait how long a pull of an image not squashed yet waits for its squash before it gets the original
 *     image (the squash goes on in the background); {@link Duration#ZERO} for no wait
 * @param prioritized estargz: paths written first, before the prefetch landmark (empty for none)
 */
public record SquashRule(String glob, Mode mode, int keepLayers, String baseImage, Compression compression,
    List<String> platforms, WasteSlack slack, Duration squashWait, List<String> prioritized) {

  public enum Mode { AUTO, OFF, ALL, KEEP, BASE }

  public SquashRule {
    platforms = platforms == null ? List.of() : List.copyOf(platforms);
    prioritized = prioritized == null ? List.of() : List.copyOf(prioritized);
    squashWait = squashWait == null ? ProxyConfig.DEFAULT_SQUASH_WAIT : squashWait;
    if (squashWait.isNegative()) {
      throw new IllegalArgumentException("rule " + glob + ": wait must not be negative");
    }
    compression = compression == null ? Compression.GZIP : compression;
    slack = mode == Mode.AUTO && slack == null ? WasteSlack.DEFAULT : mode == Mode.AUTO ? slack : null;
    if (mode == Mode.KEEP && keepLayers < 1) {
      throw new IllegalArgumentException("rule " + glob + ": keep needs at least 1 layer");
    }
    if (mode == Mode.BASE && (baseImage == null || baseImage.isBlank())) {
      throw new IllegalArgumentException("rule " + glob + ": base needs a base image");
    }
  }

  /** A rule with nothing prioritized. */
  public SquashRule(String glob, Mode mode, int keepLayers, String baseImage, Compression compression,
      List<String> platforms, WasteSlack slack, Duration squashWait) {
    this(glob, mode, keepLayers, baseImage, compression, platforms, slack, squashWait, List.of());
  }

  /** A rule with the default slack and {@code wait}. */
  public SquashRule(String glob, Mode mode, int keepLayers, String baseImage, Compression compression,
      List<String> platforms) {
    this(glob, mode, keepLayers, baseImage, compression, platforms, null, null);
  }

  /** A rule with this slack (auto) and the default {@code wait}. */
  public SquashRule(String glob, Mode mode, int keepLayers, String baseImage, Compression compression,
      List<String> platforms, WasteSlack slack) {
    this(glob, mode, keepLayers, baseImage, compression, platforms, slack, null);
  }

  public SquashRule withWait(Duration wait) {
    return new SquashRule(glob, mode, keepLayers, baseImage, compression, platforms, slack, wait, prioritized);
  }

  public static SquashRule all(String glob) {
    return new SquashRule(glob, Mode.ALL, 0, null, Compression.GZIP, List.of());
  }

  /** What a repository no rule matches gets: {@code auto} with the default slack. */
  public static SquashRule auto(String glob) {
    return new SquashRule(glob, Mode.AUTO, 0, null, Compression.GZIP, List.of());
  }

  public boolean matches(String repository) {
    return toRegex(glob).matcher(repository).matches();
  }

  public boolean selectsPlatform(String os, String arch, String variant) {
    if (platforms.isEmpty()) {
      return true;
    }
    String full = os + "/" + arch + (variant == null || variant.isEmpty() ? "" : "/" + variant);
    String plain = os + "/" + arch;
    return platforms.contains(full) || platforms.contains(plain);
  }

  static Pattern toRegex(String glob) {
    StringBuilder re = new StringBuilder();
    for (int i = 0; i < glob.length(); i++) {
      char c = glob.charAt(i);
      if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
        re.append(".*");
        i++;
      } else if (c == '*') {
        re.append("[^/]*");
      } else if (c == '?') {
        re.append("[^/]");
      } else {
        re.append(Pattern.quote(String.valueOf(c)));
      }
    }
    return Pattern.compile(re.toString());
  }
}
