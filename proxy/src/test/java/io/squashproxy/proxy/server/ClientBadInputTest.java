package io.squashproxy.proxy.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.LayerBuilder;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.testing.ProxyHarness;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad requests over a real socket to the real listener (codec limits, aggregator, idle timeout, handler):
 * each gets the spec's error in its envelope with the right status, and the connection either stays usable
 * (the next request on it answers 200) or, after a request the HTTP decoder cannot read, is closed cleanly
 * (EOF, never a reset). One row per bad input.
 */
class ClientBadInputTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final int IDLE_SECONDS = 2;
  static final String OK = "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n";

  @TempDir
  static Path dir;
  static ProxyHarness harness;
  static LiveProxy proxy;
  static TestImage image;
  static Digest layer;
  static byte[] blob;

  @BeforeAll
  static void start() throws Exception {
    InMemoryRegistry upstream = new InMemoryRegistry("up");
    image = TestImage.oci().layer(LayerBuilder.layer().file("a", "0123456789".repeat(20)))
        .layer(LayerBuilder.layer().file("b", "abc")).build();
    upstream.push("library/app", "1.0", image);
    layer = image.layerDigests().get(0);
    blob = image.layerBlobs().get(0);
    harness = new ProxyHarness(upstream, dir.resolve("cache"));
    proxy = new LiveProxy(harness, IDLE_SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    if (proxy != null) {
      proxy.close();
    }
    if (harness != null) {
      harness.close();
    }
  }

  /**
   * One bad request: the raw bytes, the status and OCI error code expected (code null: a response without
   * an envelope), and whether the connection is closed after it.
   */
  record Row(String name, String request, int status, String code, boolean closes) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Row keep(String name, String request, int status, String code) {
    return new Row(name, request, status, code, false);
  }

  static Row closing(String name, String request, int status, String code) {
    return new Row(name, request, status, code, true);
  }

  static String get(String uri) {
    return "GET " + uri + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }

  static String blobWithRange(String range) {
    return "GET /v2/app/blobs/" + layer + " HTTP/1.1\r\nHost: x\r\nRange: " + range + "\r\n\r\n";
  }

  static Stream<Row> rows() {
    String longName = "a".repeat(256);
    String manyHeaders = "GET /v2/ HTTP/1.1\r\nHost: x\r\n" + "X-Pad: 0123456789012345678901234567890123456789\r\n"
        .repeat(500) + "\r\n";
    return Stream.of(
        // Repository names and references (distribution spec grammar).
        keep("upper-case name", get("/v2/UPPER/manifests/latest"), 400, "NAME_INVALID"),
        keep("name with ..", get("/v2/a/../b/manifests/latest"), 400, "NAME_INVALID"),
        keep("name with %2e%2e", get("/v2/a/%2e%2e/b/manifests/latest"), 400, "NAME_INVALID"),
        keep("name ..%2f escaping", get("/v2/..%2f..%2fetc/passwd/manifests/x"), 400, "NAME_INVALID"),
        keep("name with %2F", get("/v2/a%2Fb/manifests/latest"), 400, "NAME_INVALID"),
        keep("name with NUL", get("/v2/a%00b/manifests/latest"), 400, "NAME_INVALID"),
        keep("name with //", get("/v2/a//b/manifests/latest"), 400, "NAME_INVALID"),
        keep("name starting with -", get("/v2/-app/manifests/latest"), 400, "NAME_INVALID"),
        keep("name over 255 chars", get("/v2/" + longName + "/manifests/latest"), 400, "NAME_INVALID"),
        keep("name with a space", get("/v2/a%20b/manifests/latest"), 400, "NAME_INVALID"),
        keep("tag with !", get("/v2/app/manifests/bad!tag"), 404, "MANIFEST_UNKNOWN"),
        keep("tag over 128 chars", get("/v2/app/manifests/" + "t".repeat(129)), 404, "MANIFEST_UNKNOWN"),
        keep("tag starting with .", get("/v2/app/manifests/.hidden"), 404, "MANIFEST_UNKNOWN"),
        keep("short manifest digest", get("/v2/app/manifests/sha256:1234"), 404, "MANIFEST_UNKNOWN"),
        keep("upper-case hex digest", get("/v2/app/blobs/sha256:" + "A".repeat(64)), 400, "DIGEST_INVALID"),
        keep("unknown digest algorithm", get("/v2/app/blobs/md5:00"), 400, "DIGEST_INVALID"),
        keep("empty blob reference", get("/v2/app/blobs/"), 400, "DIGEST_INVALID"),
        keep("tags n not a number", get("/v2/app/tags/list?n=abc"), 400, "UNSUPPORTED"),
        keep("not under /v2", get("/etc/passwd"), 404, "NAME_UNKNOWN"),
        keep("absolute-form URI elsewhere", get("http://evil.example/etc/passwd"), 404, "NAME_UNKNOWN"),
        // Methods.
        keep("unknown method", "FROB /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\n\r\n", 405, "UNSUPPORTED"),
        keep("PUT manifest", "PUT /v2/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405,
            "UNSUPPORTED"),
        keep("DELETE blob", "DELETE /v2/app/blobs/" + layer + " HTTP/1.1\r\nHost: x\r\n\r\n", 405, "UNSUPPORTED"),
        keep("POST upload", "POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405,
            "UNSUPPORTED"),
        keep("OPTIONS base", "OPTIONS /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", 405, "UNSUPPORTED"),
        keep("TRACE base", "TRACE /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", 405, "UNSUPPORTED"),
        // Ranges: a single satisfiable range is 206; a range past the end is 416; everything else (several
        // ranges, other units, unparsable or reversed values) is ignored and the whole blob sent, as RFC 9110
        // allows and as most registries do for multiple ranges.
        keep("range past the end", blobWithRange("bytes=999999-"), 416, "BLOB_UNKNOWN"),
        keep("zero-length suffix range", blobWithRange("bytes=-0"), 416, "BLOB_UNKNOWN"),
        keep("two ranges", blobWithRange("bytes=0-1,5-6"), 200, null),
        keep("many ranges", blobWithRange("bytes=" + "0-0,".repeat(300) + "1-1"), 200, null),
        keep("range of another unit", blobWithRange("items=0-1"), 200, null),
        keep("range not a number", blobWithRange("bytes=a-b"), 200, null),
        keep("reversed range", blobWithRange("bytes=9-2"), 200, null),
        keep("negative range start", blobWithRange("bytes=--5"), 200, null),
        keep("range overflowing a long", blobWithRange("bytes=0-99999999999999999999"), 200, null),
        keep("empty range", blobWithRange("bytes="), 200, null),
        // Requests the HTTP decoder cannot read: an error, then a clean close.
        closing("request line over 8 KiB", get("/v2/app/manifests/" + "x".repeat(9000)), 414, "UNSUPPORTED"),
        closing("one header over 16 KiB", "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + "y".repeat(20_000)
            + "\r\n\r\n", 431, "UNSUPPORTED"),
        closing("headers over 16 KiB in total", manyHeaders, 431, "UNSUPPORTED"),
        closing("garbage request line", "GARBAGE\r\n\r\n", 400, "UNSUPPORTED"),
        closing("binary junk", "\u0001\u0002\u0003\u00ff\u00fe junk \u0000\r\n\r\n", 400, "UNSUPPORTED"),
        closing("unknown protocol version", "GET /v2/ SPDY/9\r\n\r\n", 400, "UNSUPPORTED"),
        closing("header without a colon", "GET /v2/ HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400, "UNSUPPORTED"),
        closing("Content-Length not a number", "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
            "UNSUPPORTED"),
        closing("two Content-Length values", "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            + "Content-Length: 2\r\n\r\nab", 400, "UNSUPPORTED"),
        closing("body over the aggregate limit", "PUT /v2/app/blobs/uploads/x HTTP/1.1\r\nHost: x\r\n"
            + "Content-Length: 1000000\r\n\r\n" + "z".repeat(70_000), 413, "UNSUPPORTED"),
        closing("HTTP/1.0 without keep-alive", "GET /v2/UPPER/manifests/x HTTP/1.0\r\n\r\n", 400, "NAME_INVALID"),
        closing("Connection: close", "GET /v2/app/manifests/bad!tag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404, "MANIFEST_UNKNOWN"));
  }

  static Stream<Arguments> table() {
    return rows().map(Arguments::of);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("table")
  void eachBadRequestGetsTheSpecsErrorAndTheConnectionStaysHealthyOrClosesCleanly(Row row) throws Exception {
    try (RawHttp c = new RawHttp(proxy.port(), 10_000)) {
      c.send(row.request());
      RawHttp.Response r = c.read(false);
      assertEquals(row.status(), r.status(), row.name() + ": " + r.text());
      if (row.code() != null) {
        assertTrue(r.headers().get("content-type").startsWith("application/json"), r.headers().toString());
        JsonNode err = JSON.readTree(r.body()).path("errors").get(0);
        assertEquals(row.code(), err.path("code").asText(), r.text());
        assertTrue(err.path("message").asText().length() > 3, r.text());
        assertTrue(!r.text().contains("Exception") && !r.text().contains("\tat "), "no stack trace: " + r.text());
      }
      if (r.status() == 405) {
        assertEquals("GET, HEAD", r.headers().get("allow"));
      }
      if (r.status() == 200 && row.request().contains("Range:")) {
        assertArrayEquals(blob, r.body(), "an ignored range sends the whole blob");
        assertTrue(!r.headers().containsKey("content-range"), r.headers().toString());
      }
      if (r.status() == 416) {
        assertEquals("bytes */" + blob.length, r.headers().get("content-range"));
      }
      if (row.closes()) {
        c.setReadTimeout(5_000);
        assertEquals(RawHttp.End.EOF, c.end(), row.name() + ": closed cleanly after the error");
      } else {
        c.send(OK);
        RawHttp.Response next = c.read(false);
        assertEquals(200, next.status(), row.name() + ": the connection serves the next request");
        assertEquals("{}", next.text());
      }
    }
  }

  @Test
  void satisfiableRangesAreServedExactly() throws Exception {
    try (RawHttp c = new RawHttp(proxy.port(), 10_000)) {
      for (String[] t : List.of(new String[] {"bytes=0-0", "0", "0"}, new String[] {"bytes=3-", "3", "" + (blob.length - 1)},
          new String[] {"bytes=-4", "" + (blob.length - 4), "" + (blob.length - 1)},
          new String[] {"bytes=5-99999999", "5", "" + (blob.length - 1)})) {
        RawHttp.Response r = c.send(blobWithRange(t[0])).read();
        int from = Integer.parseInt(t[1]);
        int to = Integer.parseInt(t[2]);
        assertEquals(206, r.status(), t[0]);
        assertEquals("bytes " + from + "-" + to + "/" + blob.length, r.headers().get("content-range"), t[0]);
        assertArrayEquals(Arrays.copyOfRange(blob, from, to + 1), r.body(), t[0]);
      }
    }
  }

  @Test
  void pipelinedRequestsAfterErrorsAreAnsweredInOrder() throws Exception {
    try (RawHttp c = new RawHttp(proxy.port(), 10_000)) {
      c.send(get("/v2/UPPER/manifests/x") + get("/v2/") + get("/v2/app/blobs/md5:0") + "FROB /v2/ HTTP/1.1\r\n\r\n"
          + blobWithRange("bytes=0-1,3-4") + get("/v2/app/manifests/nope") + OK);
      int[] want = {400, 200, 400, 405, 200, 404, 200};
      for (int i = 0; i < want.length; i++) {
        RawHttp.Response r = c.read();
        assertEquals(want[i], r.status(), "response " + i + ": " + r.text());
      }
      c.setReadTimeout(300);
      assertEquals(RawHttp.End.OPEN, c.end(), "keep-alive after the pipeline");
    }
  }

  @Test
  void aPipelinedRequestAfterAMalformedOneIsDroppedAndTheConnectionClosed() throws Exception {
    try (RawHttp c = new RawHttp(proxy.port(), 10_000)) {
      c.send(get("/v2/" + "x".repeat(9000)) + OK);
      assertEquals(414, c.read().status());
      assertEquals(RawHttp.End.EOF, c.end());
    }
  }

  @Test
  void slowAndSilentClientsAreDisconnectedCleanlyAfterTheIdleTimeout() throws Exception {
    // Half a request line, then nothing: closed once the idle timeout passes, with a FIN.
    try (RawHttp half = new RawHttp(proxy.port(), (IDLE_SECONDS + 8) * 1000);
        RawHttp silent = new RawHttp(proxy.port(), (IDLE_SECONDS + 8) * 1000);
        RawHttp afterResponse = new RawHttp(proxy.port(), (IDLE_SECONDS + 8) * 1000)) {
      long t0 = System.nanoTime();
      half.send("GET /v2/app/manif");
      assertEquals(200, afterResponse.send(OK).read().status());
      assertEquals(RawHttp.End.EOF, half.end(), "half a request");
      assertEquals(RawHttp.End.EOF, silent.end(), "no request at all");
      assertEquals(RawHttp.End.EOF, afterResponse.end(), "idle keep-alive connection");
      double took = (System.nanoTime() - t0) / 1e9;
      assertTrue(took >= IDLE_SECONDS - 0.5, "closed after " + took + " s, before the idle timeout");
    }
    // A slowloris: a byte every 200 ms, never the end of the headers. Never idle, still cut off.
    try (RawHttp slow = new RawHttp(proxy.port(), (IDLE_SECONDS + 8) * 1000)) {
      long t0 = System.nanoTime();
      byte[] head = ("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + "s".repeat(200)).getBytes(
          java.nio.charset.StandardCharsets.US_ASCII);
      boolean cut = false;
      for (int i = 0; i < head.length && !cut; i++) {
        try {
          slow.send(new byte[] {head[i]});
        } catch (java.io.IOException e) {
          cut = true;
        }
        Thread.sleep(200);
        cut |= (System.nanoTime() - t0) / 1e9 > IDLE_SECONDS + 6;
      }
      double took = (System.nanoTime() - t0) / 1e9;
      assertTrue(took < IDLE_SECONDS + 6, "a trickling client held its connection for " + took + " s");
      assertTrue(took >= IDLE_SECONDS - 0.5, "cut off after " + took + " s, before the deadline");
    }
    // The listener still serves.
    try (RawHttp c = new RawHttp(proxy.port(), 10_000)) {
      assertEquals(200, c.send(OK).read().status());
    }
  }
}
