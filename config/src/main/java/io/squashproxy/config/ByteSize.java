package io.squashproxy.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A size in bytes, written {@code 20GiB}, {@code 512MiB}, {@code 10GB} or a plain number of bytes. */
public record ByteSize(long bytes) {
  private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGTP]i?B|B)?",
      Pattern.CASE_INSENSITIVE);

  public ByteSize {
    if (bytes < 0) {
      throw new IllegalArgumentException("size must not be negative");
    }
  }

  @JsonCreator
  public static ByteSize parse(Object value) {
    if (value instanceof Number n) {
      return new ByteSize(n.longValue());
    }
    String text = String.valueOf(value).trim();
    Matcher m = FORM.matcher(text);
    if (!m.matches()) {
      throw new IllegalArgumentException("invalid size '" + text + "' (expected e.g. 512MiB, 20GiB, 10GB)");
    }
    double number = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "B" : m.group(2).toUpperCase(Locale.ROOT);
    long factor = switch (unit) {
      case "B" -> 1L;
      case "KB" -> 1000L;
      case "MB" -> 1000L * 1000;
      case "GB" -> 1000L * 1000 * 1000;
      case "TB" -> 1000L * 1000 * 1000 * 1000;
      case "PB" -> 1000L * 1000 * 1000 * 1000 * 1000;
      case "KIB" -> 1L << 10;
      case "MIB" -> 1L << 20;
      case "GIB" -> 1L << 30;
      case "TIB" -> 1L << 40;
      case "PIB" -> 1L << 50;
      default -> throw new IllegalArgumentException("invalid size unit in '" + text + "'");
    };
    return new ByteSize((long) (number * factor));
  }

  @JsonValue
  @Override
  public String toString() {
    return bytes + "B";
  }
}
