package io.squashproxy.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/**
 * Free space to keep on a file system: a size ({@code 2GiB}) or a share of the file system ({@code 5%}).
 *
 * @param bytes the size, when given as one (else 0)
 * @param percent the share, when given as one (else 0)
 */
public record FreeSpace(long bytes, double percent) {

  @JsonCreator
  public static FreeSpace parse(Object value) {
    String text = String.valueOf(value).trim();
    if (text.endsWith("%")) {
      double p;
      try {
        p = Double.parseDouble(text.substring(0, text.length() - 1).trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("invalid share '" + text + "' (expected e.g. 5% or 2GiB)");
      }
      return new FreeSpace(0, p);
    }
    return new FreeSpace(ByteSize.parse(value).bytes(), 0);
  }

  /** The bytes to keep free on a file system of {@code totalBytes}. */
  public long of(long totalBytes) {
    return percent > 0 ? (long) (totalBytes * percent / 100) : bytes;
  }

  @JsonValue
  @Override
  public String toString() {
    return percent > 0 ? percent + "%" : bytes + "B";
  }
}
