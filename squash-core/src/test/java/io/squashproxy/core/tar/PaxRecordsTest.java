package io.squashproxy.core.tar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.squashproxy.core.testing.RawPax;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PaxRecordsTest {
  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  @Test
  void binaryValuesRoundTrip() throws TarFormatException {
    Map<String, byte[]> in = new LinkedHashMap<>();
    in.put("SCHILY.xattr.security.capability", new byte[] {1, 0, 0, 2, (byte) 0xff, '\n', '=', ' ', 0});
    in.put("path", ascii("caf\u00e9/\u00ff"));
    in.put("empty", new byte[0]);
    in.put("mtime", ascii("1700000000.5"));
    byte[] body = PaxRecords.encode(in);
    Map<String, byte[]> out = PaxRecords.parse(body);
    assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(out.keySet()));
    in.forEach((k, v) -> assertArrayEquals(v, out.get(k), k));
    // An independent parser reads the same records.
    Map<String, byte[]> raw = RawPax.parse(body);
    in.forEach((k, v) -> assertArrayEquals(v, raw.get(k), k));
  }

  @Test
  void recordLengthsAcrossDigitBoundaries() throws TarFormatException {
    // " k=" + value + "\n" = value + 4 bytes; the length prefix grows from 1 to 4 digits around these sizes.
    for (int n = 0; n < 1100; n++) {
      byte[] value = new byte[n];
      java.util.Arrays.fill(value, (byte) 'v');
      byte[] body = PaxRecords.encode(Map.of("k", value));
      String text = new String(body, StandardCharsets.ISO_8859_1);
      int declared = Integer.parseInt(text.substring(0, text.indexOf(' ')));
      assertEquals(body.length, declared, "value length " + n);
      assertArrayEquals(value, PaxRecords.parse(body).get("k"), "value length " + n);
    }
  }

  @Test
  void knownEncoding() {
    assertEquals("12 path=abc\n", new String(PaxRecords.encode(Map.of("path", ascii("abc"))),
        StandardCharsets.US_ASCII));
    assertEquals("9 k=abcd\n", new String(PaxRecords.encode(Map.of("k", ascii("abcd"))), StandardCharsets.US_ASCII));
    // " k=abcde\n" is 9 bytes; with a 1-digit length the record would be 10 long, which takes 2 digits: 11.
    assertEquals("11 k=abcde\n", new String(PaxRecords.encode(Map.of("k", ascii("abcde"))),
        StandardCharsets.US_ASCII));
  }

  @Test
  void laterDuplicateKeyWins() throws TarFormatException {
    Map<String, byte[]> m = PaxRecords.parse(ascii("8 a=one\n8 b=two\n11 a=three\n"));
    assertEquals(List.of("b", "a"), new ArrayList<>(m.keySet()));
    assertArrayEquals(ascii("three"), m.get("a"));
  }

  @Test
  void nulPaddingEndsTheRecords() throws TarFormatException {
    Map<String, byte[]> m = PaxRecords.parse(ascii("8 a=one\n\0\0\0\0"));
    assertEquals(1, m.size());
  }

  @Test
  void malformedRecordsAreRefused() {
    for (String bad : List.of("x a=b\n", "99 a=b\n", "6 a=b", "5 ab\n", "0 a=b\n", "8 a=one!", " 8 a=one\n",
        "99999999999999999999 a=b\n")) {
      assertThrows(TarFormatException.class, () -> PaxRecords.parse(ascii(bad)), bad);
    }
  }
}
