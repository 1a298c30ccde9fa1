package io.squashproxy.proxy.server;

/**
 * A single {@code Range: bytes=...} request (RFC 9110 section 14). Multiple ranges and unparsable values are
 * ignored (the whole blob is sent, which the RFC allows); a range that starts past the end is unsatisfiable.
 */
public record ByteRange(long start, long end) {

  /** Sentinel for "the header asks for bytes that do not exist": answer 416. */
  public static final ByteRange UNSATISFIABLE = new ByteRange(-1, -1);

  private static final java.util.regex.Pattern DIGITS = java.util.regex.Pattern.compile("[0-9]*");

  public long length() {
    return end - start + 1;
  }

  /** The range to send, null for the whole blob, or {@link #UNSATISFIABLE}. */
  public static ByteRange parse(String header, long size) {
    if (header == null) {
      return null;
    }
    String h = header.trim();
    if (!h.startsWith("bytes=") || h.indexOf(',') >= 0) {
      return null;
    }
    String spec = h.substring(6).trim();
    int dash = spec.indexOf('-');
    if (dash < 0) {
      return null;
    }
    try {
      String a = spec.substring(0, dash).trim();
      String b = spec.substring(dash + 1).trim();
      if (!DIGITS.matcher(a).matches() || !DIGITS.matcher(b).matches()) {
        return null; // "bytes=--5", "bytes=+1-2": not the RFC's syntax, ignored (Long.parseLong takes signs)
      }
      if (a.isEmpty()) {
        if (b.isEmpty()) {
          return null;
        }
        long suffix = Long.parseLong(b);
        if (suffix <= 0) {
          return UNSATISFIABLE;
        }
        return size == 0 ? UNSATISFIABLE : new ByteRange(Math.max(0, size - suffix), size - 1);
      }
      long start = Long.parseLong(a);
      long end = b.isEmpty() ? size - 1 : Math.min(Long.parseLong(b), size - 1);
      if (start < 0 || (!b.isEmpty() && Long.parseLong(b) < start)) {
        return null; // syntactically invalid: ignore
      }
      if (start >= size) {
        return UNSATISFIABLE;
      }
      return new ByteRange(start, end);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
