package io.squashproxy.proxy.upstream;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * One HTTP request to an upstream, as {@link JibUpstream} sends them: no redirects followed (it follows them
 * itself, dropping credentials across hosts), a body whose reads fail once no byte arrived for the idle timeout.
 * Blocking; a failure to reach the server is an {@link IOException}, every answer a {@link Reply}.
 */
interface UpstreamHttp extends Closeable {

  Reply send(String method, URI uri, Map<String, String> headers) throws IOException;

  /** A response: status, headers by (case-insensitive) name, and the body, which the caller closes. */
  record Reply(int status, Function<String, Optional<String>> headers, InputStream body) {
    Optional<String> header(String name) {
      return headers.apply(name);
    }

    long contentLength() {
      try {
        return header("Content-Length").map(Long::parseLong).orElse(-1L);
      } catch (NumberFormatException e) {
        return -1;
      }
    }
  }
}
