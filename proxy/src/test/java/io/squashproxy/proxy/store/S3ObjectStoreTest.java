package io.squashproxy.proxy.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.proxy.store.s3.S3ObjectStore;
import io.squashproxy.proxy.testing.InProcessS3;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The S3 client wrapper against a real S3 API server (s3proxy, in this JVM). */
class S3ObjectStoreTest {
  private static final long PART = 5L << 20;

  @TempDir
  static Path dir;
  static InProcessS3 s3;
  static S3ObjectStore store;

  @BeforeAll
  static void start() throws Exception {
    s3 = InProcessS3.start(Files.createDirectories(dir.resolve("s3")), "bucket");
    store = s3.store("bucket", "t/", PART);
    store.check();
  }

  @AfterAll
  static void stop() throws Exception {
    store.close();
    s3.close();
  }

  @Test
  void smallObjectsRoundTripUnderThePrefix() throws Exception {
    assertFalse(store.exists("a/b"));
    assertTrue(store.get("a/b").isEmpty());
    store.put("a/b", "hello".getBytes());
    assertTrue(store.exists("a/b"));
    assertArrayEquals("hello".getBytes(), store.get("a/b").orElseThrow());
    assertTrue(store.lastModified("a/b").isPresent());
    S3ObjectStore other = s3.store("bucket", "u/", PART);
    assertFalse(other.exists("a/b"), "another prefix is another namespace");
    store.delete("a/b");
    assertFalse(store.exists("a/b"));
  }

  @Test
  void aConditionalPutCreatesOnlyOnceEvenWhereTheStoreIgnoresIfNoneMatch() throws Exception {
    // s3proxy 2.6 ignores If-None-Match on PUT: the probe finds out, and the store falls back to HEAD first.
    assertFalse(store.conditionalPuts());
    assertTrue(store.putIfAbsent("lease", "one".getBytes()));
    assertFalse(store.putIfAbsent("lease", "two".getBytes()));
    assertArrayEquals("one".getBytes(), store.get("lease").orElseThrow());
  }

  @Test
  void aLargeFileGoesUpInPartsAndComesBackWhole() throws Exception {
    byte[] data = new byte[(int) (PART * 2 + 12345)];
    new Random(7).nextBytes(data);
    Path f = dir.resolve("big");
    Files.write(f, data);
    store.putFile("big", f);
    try (InputStream in = store.open("big").orElseThrow()) {
      assertArrayEquals(data, in.readAllBytes());
    }
  }

  @Test
  void anUploadThatFailsMidwayLeavesNoObjectAndNoParts() throws Exception {
    long size = PART * 2 + 100;
    IOException e = assertThrows(IOException.class,
        () -> store.putStream("broken", size, () -> new FailingStream(PART + 1000)));
    assertTrue(e.getMessage().contains("disk gone"), e.getMessage());
    assertFalse(store.exists("broken"), "an interrupted multipart upload is never visible");
    // The upload is aborted too (no parts billed); s3proxy's file backends cannot abort an upload after a
    // failed part (a temp file of the failed part breaks their listing), so only visibility is checked here.

    assertThrows(IOException.class, () -> store.putStream("broken-small", 1000, () -> new FailingStream(500)));
    assertFalse(store.exists("broken-small"), "an interrupted single PUT is never visible");
  }

  /** Gives {@code good} bytes, then fails as a dying disk or connection would. */
  private static final class FailingStream extends InputStream {
    private final InputStream data;

    FailingStream(long good) {
      this.data = new ByteArrayInputStream(new byte[(int) good]);
    }

    @Override
    public int read() throws IOException {
      int b = data.read();
      if (b < 0) {
        throw new IOException("disk gone");
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = data.read(b, off, len);
      if (n < 0) {
        throw new IOException("disk gone");
      }
      return n;
    }
  }
}
