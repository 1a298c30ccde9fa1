package io.squashproxy.proxy.server;

import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.squashproxy.proxy.registry.ErrorCode;

/**
 * The answer to a request the HTTP decoder could not read: 414 for a request line over
 * {@link ProxyInitializer#MAX_INITIAL_LINE}, 431 for headers over {@link ProxyInitializer#MAX_HEADER_SIZE},
 * 400 for anything else, each in the spec's envelope. The connection is closed after it (the decoder
 * discards everything after a bad message).
 */
final class MalformedRequests {
  private MalformedRequests() {}

  static FullHttpResponse response(Throwable cause) {
    HttpResponseStatus status;
    String message;
    if (cause instanceof TooLongHttpLineException) {
      status = HttpResponseStatus.REQUEST_URI_TOO_LONG;
      message = "request line longer than " + ProxyInitializer.MAX_INITIAL_LINE + " bytes";
    } else if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
      status = HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE;
      message = "request headers larger than " + ProxyInitializer.MAX_HEADER_SIZE + " bytes";
    } else {
      status = HttpResponseStatus.BAD_REQUEST;
      message = "malformed HTTP request";
    }
    return Responses.error(status, ErrorCode.UNSUPPORTED, message, null, false);
  }
}
