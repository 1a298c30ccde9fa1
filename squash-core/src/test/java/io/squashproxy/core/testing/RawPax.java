package io.squashproxy.core.testing;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal tar walker, written independently of squash-core's codec, that returns each member's PAX
 * records with their values as raw bytes. Commons Compress decodes PAX values as UTF-8, which corrupts
 * binary xattrs and non-UTF-8 long names; {@link TarListing} pairs these records with the members Commons
 * reads, by position.
 */
public final class RawPax {
  private RawPax() {}

  /** One map per member (in archive order), empty when the member had no PAX header. */
  public static List<Map<String, byte[]>> perMember(byte[] tar) {
    List<Map<String, byte[]>> out = new ArrayList<>();
    Map<String, byte[]> pending = null;
    int pos = 0;
    while (pos + 512 <= tar.length) {
      if (isZero(tar, pos)) {
        break;
      }
      byte type = tar[pos + 156];
      long size = number(tar, pos + 124, 12);
      int body = pos + 512;
      if (type == 'x') {
        pending = parse(Arrays.copyOfRange(tar, body, (int) (body + size)));
      } else if (type == 'g' || type == 'L' || type == 'K') {
        // global header or GNU long name: no per-member records
      } else {
        Map<String, byte[]> records = pending == null ? Map.of() : pending;
        if (records.containsKey("size")) {
          size = Long.parseLong(new String(records.get("size"), StandardCharsets.US_ASCII));
        }
        out.add(records);
        pending = null;
        if (!(type == '0' || type == 0 || type == '7')) {
          size = 0;
        }
      }
      pos = body + (int) ((size + 511) / 512 * 512);
    }
    return out;
  }

  /** Parses PAX records: {@code "LEN key=value\n"}, values kept raw; a later duplicate key wins. */
  public static Map<String, byte[]> parse(byte[] b) {
    Map<String, byte[]> out = new LinkedHashMap<>();
    int i = 0;
    while (i < b.length && b[i] != 0) {
      int sp = i;
      while (b[sp] != ' ') {
        sp++;
      }
      int len = Integer.parseInt(new String(b, i, sp - i, StandardCharsets.US_ASCII));
      int end = i + len; // exclusive; b[end - 1] is '\n'
      int eq = sp + 1;
      while (b[eq] != '=') {
        eq++;
      }
      String key = new String(b, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
      out.remove(key);
      out.put(key, Arrays.copyOfRange(b, eq + 1, end - 1));
      i = end;
    }
    return out;
  }

  private static long number(byte[] b, int off, int len) {
    if ((b[off] & 0x80) != 0) {
      long v = b[off] & 0x3f;
      for (int i = off + 1; i < off + len; i++) {
        v = (v << 8) | (b[i] & 0xff);
      }
      return v;
    }
    int i = off;
    while (i < off + len && (b[i] == ' ' || b[i] == 0)) {
      i++;
    }
    long v = 0;
    for (; i < off + len && b[i] >= '0' && b[i] <= '7'; i++) {
      v = v * 8 + (b[i] - '0');
    }
    return v;
  }

  private static boolean isZero(byte[] b, int off) {
    for (int i = off; i < off + 512; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
