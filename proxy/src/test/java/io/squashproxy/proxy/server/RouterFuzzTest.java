package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Generated and mutated requests into the real listener, for a bounded time. Every request with a complete
 * head must get a well-formed HTTP response: a success, a 304, or an error in the spec's envelope with one
 * of its codes (the aggregator's 413 too), never a 500; nothing may hang; no exception may reach the
 * end of the pipeline; no buffer may leak (paranoid leak detection, whose reports are captured) and no file
 * handle may stay open. The seed is fixed ({@code -Dfuzz.seed=N} replays another) and printed on failure.
 */
class RouterFuzzTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final long BUDGET_NANOS = Long.getLong("fuzz.seconds", 8) * 1_000_000_000L;
  static final int MAX_CASES = Integer.getInteger("fuzz.cases", 4000);
  static final Set<Integer> STATUSES = Set.of(200, 206, 304, 400, 404, 405, 413, 414, 416, 431);
  static final Set<String> CODES = Arrays.stream(ErrorCode.values()).map(Enum::name).collect(Collectors.toSet());

  @TempDir
  Path dir;

  @Test
  void generatedAndMutatedRequestsGetWellFormedAnswersWithoutLeaksOrHangs() throws Exception {
    long seed = Long.getLong("fuzz.seed", 20261129L);
    SplittableRandom random = new SplittableRandom(seed);
    InMemoryRegistry upstream = new InMemoryRegistry("up");
    TestImage image = TestImage.oci().layer(LayerBuilder.layer().file("a", "0123456789".repeat(50)))
        .layer(LayerBuilder.layer().file("b", "abc")).build();
    Digest tagged = upstream.push("library/app", "1.0", image);
    Requests gen = new Requests(random, image.layerDigests().get(0), tagged);
    ResourceLeakDetector.Level leakLevel = ResourceLeakDetector.getLevel();
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    int cases = 0;
    int responses = 0;
    String current = "";
    try (LogCapture logs = new LogCapture(Level.WARN, "io.netty", "io.squashproxy.proxy.server.ErrorMapping",
            "io.squashproxy.proxy.server.RegistryHandler");
        ProxyHarness harness = new ProxyHarness(upstream, dir.resolve("cache"));
        LiveProxy proxy = new LiveProxy(harness, 1)) {
      // Warm up (squash the image once), then count file handles.
      try (RawHttp c = new RawHttp(proxy.port(), 30_000)) {
        assertEquals(200, c.send("GET /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\n\r\n").read().status());
      }
      long fdsBefore = openFiles();
      long end = System.nanoTime() + BUDGET_NANOS;
      // Cases come from the seeded generator in order; batches run on parallel connections, so a request that
      // leaves the server waiting for more bytes (until the idle timeout closes it) does not stall the rest.
      java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(48);
      try {
        while (System.nanoTime() < end && cases < MAX_CASES) {
          List<byte[]> batch = new ArrayList<>();
          for (int i = 0; i < 192; i++) {
            batch.add(random.nextInt(3) == 0 ? gen.mutated() : gen.generated());
          }
          List<java.util.concurrent.Future<Integer>> results = new ArrayList<>();
          for (byte[] request : batch) {
            results.add(pool.submit(() -> exchange(proxy.port(), request, printable(request))));
          }
          for (int i = 0; i < batch.size(); i++) {
            current = printable(batch.get(i));
            cases++;
            try {
              responses += results.get(i).get();
            } catch (java.util.concurrent.ExecutionException e) {
              if (e.getCause() instanceof AssertionError a) {
                throw a;
              }
              throw new AssertionError(e.getCause());
            }
          }
          control(proxy.port(), current);
        }
      } finally {
        pool.shutdownNow();
      }
      System.out.printf("RouterFuzzTest: seed %d, %d requests, %d responses checked%n", seed, cases, responses);
      assertTrue(cases >= 150, "only " + cases + " cases ran");
      // Leak reports come when a leaked buffer is collected and the next buffer is allocated.
      for (int i = 0; i < 5; i++) {
        System.gc();
        Thread.sleep(50);
        for (int j = 0; j < 100; j++) {
          ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(64);
          b.release();
        }
      }
      List<String> problems = logs.problems();
      assertEquals(List.of(), problems, "seed " + seed + ": leaks or unhandled exceptions");
      long fdsAfter = waitForFiles(fdsBefore);
      assertTrue(fdsAfter <= fdsBefore + 2, "seed " + seed + ": file handles " + fdsBefore + " -> " + fdsAfter);
    } catch (AssertionError e) {
      throw new AssertionError("seed " + Long.getLong("fuzz.seed", 20261129L) + " (replay with -Dfuzz.seed=N), "
          + "case " + cases + ": " + current + "\n" + e.getMessage(), e);
    } finally {
      ResourceLeakDetector.setLevel(leakLevel);
    }
  }

  /** Sends one request on a fresh connection; checks the answer if the request had a complete head. */
  private static int exchange(int port, byte[] request, String shown) throws IOException {
    boolean complete = indexOf(request, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1)) >= 0;
    try (RawHttp c = new RawHttp(port, 6_000)) {
      try {
        c.send(request);
      } catch (IOException e) {
        return 0; // the server closed on a malformed prefix while we were still writing
      }
      if (!complete) {
        return 0;
      }
      RawHttp.Response r;
      try {
        r = c.read(isHead(request));
      } catch (SocketTimeoutException e) {
        fail("neither a response nor a close within 6 s (the idle timeout is 1 s): a hang, for: " + shown);
        return 0;
      } catch (java.io.EOFException | java.net.SocketException e) {
        // The decoder may close on input it rejects before the head ends (a bad first line, then junk).
        return 0;
      }
      check(r, shown);
      return 1;
    }
  }

  private static void check(RawHttp.Response r, String shown) throws IOException {
    assertTrue(STATUSES.contains(r.status()), "status " + r.status() + " for " + shown + ": " + r.text());
    String type = r.headers().getOrDefault("content-type", "");
    if (r.status() >= 400 && r.body().length > 0) {
      assertTrue(type.startsWith("application/json"), type + " for " + shown);
      JsonNode err = JSON.readTree(r.body()).path("errors").get(0);
      assertTrue(err != null && CODES.contains(err.path("code").asText()), r.text() + " for " + shown);
      assertTrue(err.path("message").asText().length() > 0, r.text());
    }
  }

  /** A plain request on a fresh connection must still be answered. */
  private static void control(int port, String after) throws IOException {
    try (RawHttp c = new RawHttp(port, 10_000)) {
      RawHttp.Response r = c.send("GET /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertEquals(200, r.status(), "the proxy stopped serving after: " + after);
    }
  }

  static long openFiles() throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      return s.count();
    }
  }

  /** Connections close asynchronously on the server side: give them a moment. */
  static long waitForFiles(long target) throws Exception {
    long n = openFiles();
    for (int i = 0; i < 50 && n > target + 2; i++) {
      Thread.sleep(100);
      n = openFiles();
    }
    return n;
  }

  /**
   * Whether the server will read the request as a HEAD (no body in the answer): as Netty's decoder does, skip
   * leading control characters and whitespace, and end the method at SP, HTAB, VT, FF or CR.
   */
  static boolean isHead(byte[] request) {
    int i = 0;
    while (i < request.length && (Character.isISOControl(request[i] & 0xff) || Character.isWhitespace(request[i]))) {
      i++;
    }
    if (i + 5 > request.length || !new String(request, i, 4, StandardCharsets.ISO_8859_1).equals("HEAD")) {
      return false;
    }
    byte sep = request[i + 4];
    return sep == ' ' || sep == '\t' || sep == 0x0b || sep == 0x0c || sep == '\r';
  }

  static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  static String printable(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < Math.min(b.length, 600); i++) {
      int c = b[i] & 0xff;
      sb.append(c >= 0x20 && c < 0x7f ? String.valueOf((char) c) : String.format("\\x%02x", c));
    }
    return (b.length > 600 ? sb + "...(" + b.length + " bytes)" : sb.toString());
  }

  /** Request generators: structured requests from parts, and byte-level mutations of valid ones. */
  static final class Requests {
    private final SplittableRandom r;
    private final Digest layer;
    private final Digest manifest;

    Requests(SplittableRandom r, Digest layer, Digest manifest) {
      this.r = r;
      this.layer = layer;
      this.manifest = manifest;
    }

    private <T> T pick(List<T> options) {
      return options.get(r.nextInt(options.size()));
    }

    String junk(int max, boolean binary) {
      int n = r.nextInt(max + 1);
      StringBuilder sb = new StringBuilder(n);
      for (int i = 0; i < n; i++) {
        sb.append((char) (binary ? r.nextInt(256) : 0x21 + r.nextInt(0x5e)));
      }
      return sb.toString();
    }

    String percentEncoded() {
      StringBuilder sb = new StringBuilder();
      int n = 1 + r.nextInt(6);
      for (int i = 0; i < n; i++) {
        sb.append(r.nextBoolean() ? String.format("%%%02X", r.nextInt(256)) : pick(List.of("%", "%2", "%zz", "a", ".")));
      }
      return sb.toString();
    }

    String name() {
      return switch (r.nextInt(10)) {
        case 0, 1 -> "app";
        case 2 -> "library/app";
        case 3 -> pick(List.of("ghcr.io/o/i", "localhost:5000/x", "a/b/c/d/e/f", "a..b", "../../etc", "a/./b"));
        case 4 -> "a" + percentEncoded() + "b";
        case 5 -> junk(20, false);
        case 6 -> junk(10, true);
        case 7 -> "x".repeat(r.nextInt(300));
        case 8 -> pick(List.of("", "/", "UPPER", "-a", "a-", "a__b", "a___b", "a.-b"));
        default -> "app/" + junk(8, false);
      };
    }

    String reference(boolean blob) {
      return switch (r.nextInt(8)) {
        case 0 -> blob ? layer.toString() : "1.0";
        case 1 -> blob ? layer.toString() : manifest.toString();
        case 2 -> "sha256:" + junk(64, false);
        case 3 -> pick(List.of("sha512:00", "md5:1", ":", "sha256:", "latest", "t".repeat(200)));
        case 4 -> junk(30, false);
        case 5 -> percentEncoded();
        case 6 -> junk(5, true);
        default -> "sha256:" + "0".repeat(64);
      };
    }

    String path() {
      String p = switch (r.nextInt(9)) {
        case 0 -> "/v2/";
        case 1, 2 -> "/v2/" + name() + "/manifests/" + reference(false);
        case 3, 4 -> "/v2/" + name() + "/blobs/" + reference(true);
        case 5 -> "/v2/" + name() + "/tags/list" + pick(List.of("", "?n=" + junk(4, false), "?n=2&last=" + junk(5,
            false), "?ns=" + junk(12, false)));
        case 6 -> "/v2/" + name() + "/blobs/uploads/" + junk(10, false);
        case 7 -> pick(List.of("*", "/", "", "/v2", "http://h/v2/", "/v3/x", "/v2/" + junk(40, false)));
        default -> "/" + junk(60, r.nextInt(4) == 0);
      };
      return r.nextInt(10) == 0 ? p + "?" + junk(20, false) : p;
    }

    String range() {
      return switch (r.nextInt(6)) {
        case 0 -> "bytes=" + r.nextInt(2000) + "-" + (r.nextBoolean() ? "" : r.nextInt(2000));
        case 1 -> "bytes=-" + r.nextInt(2000);
        case 2 -> "bytes=" + r.nextInt(10) + "-" + r.nextInt(10) + "," + r.nextInt(10) + "-" + r.nextInt(10);
        case 3 -> junk(15, false);
        case 4 -> "bytes=" + r.nextLong() + "-" + r.nextLong();
        default -> pick(List.of("bytes=", "bytes=-", "bytes=--1", "items=0-1", "bytes=1-0", "bytes = 0 - 1"));
      };
    }

    byte[] generated() {
      String method = switch (r.nextInt(12)) {
        case 0, 1, 2, 3, 4 -> "GET";
        case 5, 6 -> "HEAD";
        case 7 -> pick(List.of("PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"));
        case 8 -> junk(8, false);
        case 9 -> "get";
        default -> "GET";
      };
      String version = r.nextInt(15) == 0 ? pick(List.of("HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", junk(8, false)))
          : "HTTP/1.1";
      StringBuilder sb = new StringBuilder(method).append(' ').append(path()).append(' ').append(version)
          .append("\r\n");
      if (r.nextInt(10) > 0) {
        sb.append("Host: x\r\n");
      }
      int headers = r.nextInt(5);
      String body = "";
      for (int i = 0; i < headers; i++) {
        switch (r.nextInt(9)) {
          case 0, 1 -> sb.append("Range: ").append(range()).append("\r\n");
          case 2 -> sb.append("Accept: ").append(pick(List.of("*/*", "application/vnd.oci.image.manifest.v1+json",
              "application/vnd.docker.distribution.manifest.v2+json", junk(30, false), ""))).append("\r\n");
          case 3 -> sb.append("If-None-Match: \"").append(manifest).append("\"\r\n");
          case 4 -> sb.append("Connection: ").append(pick(List.of("close", "keep-alive", junk(6, false))))
              .append("\r\n");
          case 5 -> {
            body = junk(r.nextInt(4) == 0 ? 100 : 10, true);
            sb.append("Content-Length: ").append(r.nextInt(8) == 0 ? junk(4, false) : body.length()).append("\r\n");
          }
          case 6 -> sb.append("Transfer-Encoding: chunked\r\n");
          case 7 -> sb.append(junk(10, false)).append(": ").append(junk(20, r.nextBoolean())).append("\r\n");
          default -> sb.append("X-Long: ").append("v".repeat(r.nextInt(20_000))).append("\r\n");
        }
      }
      sb.append("\r\n").append(body);
      if (sb.indexOf("Transfer-Encoding: chunked") >= 0) {
        sb.append(pick(List.of("0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", "")));
      }
      return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A valid request with bytes flipped, inserted, deleted or cut. */
    byte[] mutated() {
      byte[] base = pick(List.of(
          "GET /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
          "GET /v2/app/blobs/" + layer + " HTTP/1.1\r\nHost: x\r\nRange: bytes=1-5\r\n\r\n",
          "HEAD /v2/library/app/manifests/" + manifest + " HTTP/1.1\r\nHost: x\r\n\r\n",
          "GET /v2/app/tags/list?n=1 HTTP/1.1\r\nHost: x\r\n\r\n",
          "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")).getBytes(StandardCharsets.ISO_8859_1);
      List<Byte> b = new ArrayList<>();
      for (byte x : base) {
        b.add(x);
      }
      int edits = 1 + r.nextInt(6);
      for (int i = 0; i < edits && !b.isEmpty(); i++) {
        int at = r.nextInt(b.size());
        switch (r.nextInt(5)) {
          case 0 -> b.set(at, (byte) (b.get(at) ^ (1 << r.nextInt(8))));
          case 1 -> b.add(at, (byte) r.nextInt(256));
          case 2 -> b.remove(at);
          case 3 -> b.set(at, (byte) pick(List.of('%', '/', '.', ' ', '\r', '\n', ':', '\0', '?')).charValue());
          default -> {
            for (int k = b.size() - 1; k > at && r.nextInt(4) == 0; k--) {
              b.remove(k);
            }
          }
        }
      }
      byte[] out = new byte[b.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = b.get(i);
      }
      // Mostly keep the head terminated so the answer can be checked; sometimes send it as mutated.
      if (r.nextInt(4) > 0 && indexOf(out, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1)) < 0) {
        byte[] t = Arrays.copyOf(out, out.length + 4);
        System.arraycopy("\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), 0, t, out.length, 4);
        return t;
      }
      return out;
    }
  }
}
