package io.squashproxy.core.tar;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Encodes and decodes PAX extended header records ({@code "%d %s=%s\n"}) with raw byte values. */
public final class PaxRecords {
  public static final String SCHILY_XATTR = "SCHILY.xattr.";

  private PaxRecords() {}

  /** Parses a PAX header body; keys are ASCII/UTF-8, values stay raw bytes. */
  public static Map<String, byte[]> parse(byte[] body) throws TarFormatException {
    Map<String, byte[]> out = new LinkedHashMap<>();
    int pos = 0;
    while (pos < body.length) {
      if (body[pos] == 0) {
        break; // some writers pad the header body with NULs
      }
      int space = pos;
      long length = 0;
      while (space < body.length && body[space] != ' ') {
        byte b = body[space];
        if (b < '0' || b > '9' || space - pos > 18) {
          throw new TarFormatException("malformed PAX record length at offset " + pos);
        }
        length = length * 10 + (b - '0');
        space++;
      }
      if (space >= body.length || length <= 0 || pos + length > body.length
          || body[(int) (pos + length - 1)] != '\n') {
        throw new TarFormatException("malformed PAX record at offset " + pos);
      }
      int end = (int) (pos + length - 1);
      int eq = -1;
      for (int i = space + 1; i < end; i++) {
        if (body[i] == '=') {
          eq = i;
          break;
        }
      }
      if (eq < 0) {
        throw new TarFormatException("PAX record without '=' at offset " + pos);
      }
      String key = new String(body, space + 1, eq - space - 1, StandardCharsets.UTF_8);
      byte[] value = java.util.Arrays.copyOfRange(body, eq + 1, end);
      out.remove(key); // a repeated key: the last one wins, in its new position
      out.put(key, value);
      pos += (int) length;
    }
    return out;
  }

  public static byte[] encode(Map<String, byte[]> records) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Map.Entry<String, byte[]> e : records.entrySet()) {
      byte[] key = e.getKey().getBytes(StandardCharsets.UTF_8);
      byte[] value = e.getValue();
      int rest = 1 + key.length + 1 + value.length + 1; // ' ' key '=' value '\n'
      int len = rest + Integer.toString(rest).length();
      if (Integer.toString(len).length() != Integer.toString(rest).length()) {
        len = rest + Integer.toString(len).length();
      }
      out.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
      out.write(' ');
      out.writeBytes(key);
      out.write('=');
      out.writeBytes(value);
      out.write('\n');
    }
    return out.toByteArray();
  }

  public static String latin1(byte[] value) {
    return new String(value, StandardCharsets.ISO_8859_1);
  }

  public static byte[] latin1(String value) {
    return value.getBytes(StandardCharsets.ISO_8859_1);
  }
}
