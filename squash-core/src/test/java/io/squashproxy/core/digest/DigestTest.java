package io.squashproxy.core.digest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DigestTest {
  static final byte[] ABC = "abc".getBytes(StandardCharsets.US_ASCII);
  static final String ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

  @Test
  void knownValue() {
    assertEquals(ABC_SHA256, Digest.sha256(ABC).toString());
    assertEquals(Digest.sha256(ABC), Digest.parse(ABC_SHA256));
  }

  @Test
  void parsesOnlyValidDigests() {
    assertTrue(Digest.isValid(ABC_SHA256));
    assertTrue(Digest.isValid("sha512:" + "a".repeat(128)));
    for (String bad : new String[] {null, "", "sha256", "sha256:", ":abc", "sha256:" + "A".repeat(64),
        "sha256:" + "a".repeat(63), "sha256:" + "a".repeat(65), "md5:" + "a".repeat(32), "sha512:" + "a".repeat(64),
        "sha256:" + "g".repeat(64), " " + ABC_SHA256}) {
      assertFalse(Digest.isValid(bad), String.valueOf(bad));
      assertThrows(IllegalArgumentException.class, () -> Digest.parse(bad));
    }
  }

  @Test
  void verifyingStreamAcceptsMatchingContent() throws IOException {
    VerifyingInputStream in = new VerifyingInputStream(new ByteArrayInputStream(ABC), "blob", Digest.sha256(ABC), 3);
    assertArrayEquals(ABC, in.readAllBytes());
    assertTrue(in.verified());
    assertEquals(3, in.count());
    VerifyingInputStream unknownSize = new VerifyingInputStream(new ByteArrayInputStream(ABC), "blob",
        Digest.sha256(ABC), -1);
    unknownSize.drainAndVerify();
    assertTrue(unknownSize.verified());
  }

  @Test
  void verifyingStreamRefusesWrongContentAtTheEnd() throws IOException {
    Digest other = Digest.sha256("abd".getBytes(StandardCharsets.US_ASCII));
    InputStream in = new VerifyingInputStream(new ByteArrayInputStream(ABC), "layer x", other, 3);
    assertEquals('a', in.read());
    DigestMismatchException e = assertThrows(DigestMismatchException.class, in::readAllBytes);
    assertEquals(other, e.expected());
    assertEquals(Digest.sha256(ABC).toString(), e.actual());
    assertTrue(e.getMessage().contains("layer x"), e.getMessage());
  }

  @Test
  void verifyingStreamRefusesWrongSizes() {
    assertThrows(DigestMismatchException.class, () -> new VerifyingInputStream(new ByteArrayInputStream(ABC), "b",
        Digest.sha256(ABC), 2).readAllBytes(), "longer than declared");
    assertThrows(DigestMismatchException.class, () -> new VerifyingInputStream(new ByteArrayInputStream(ABC), "b",
        Digest.sha256(ABC), 4).readAllBytes(), "shorter than declared");
  }

  @Test
  void skippingStillHashes() throws IOException {
    VerifyingInputStream in = new VerifyingInputStream(new ByteArrayInputStream(new byte[100_000]), "b",
        Digest.sha256(new byte[100_000]), 100_000);
    long skipped = 0;
    while (skipped < 99_000) {
      skipped += in.skip(99_000 - skipped);
    }
    in.drainAndVerify();
    assertTrue(in.verified());
    VerifyingInputStream bad = new VerifyingInputStream(new ByteArrayInputStream(new byte[100_000]), "b",
        Digest.sha256(ABC), 100_000);
    bad.skip(50_000);
    assertThrows(DigestMismatchException.class, bad::drainAndVerify);
  }

  @Test
  void digestingOutputStreamHashesAndCounts() throws IOException {
    ByteArrayOutputStream sink = new ByteArrayOutputStream();
    DigestingOutputStream out = new DigestingOutputStream(sink);
    out.write('a');
    out.write("bc".getBytes(StandardCharsets.US_ASCII), 0, 2);
    assertEquals(3, out.count());
    assertEquals(Digest.sha256(ABC), out.digest());
    assertArrayEquals(ABC, sink.toByteArray());
  }
}
