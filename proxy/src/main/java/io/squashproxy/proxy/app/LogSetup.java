package io.squashproxy.proxy.app;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.OutputStreamAppender;
import io.squashproxy.config.ProxyConfig;
import java.util.Iterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Applies the config's {@code logging} section to logback at start. */
final class LogSetup {
  private LogSetup() {}

  static void apply(ProxyConfig.Logging logging) {
    if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
      return; // another SLF4J backend: its own configuration rules
    }
    ch.qos.logback.classic.Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    if (System.getenv("SQUASH_LOG_LEVEL") == null) {
      root.setLevel(Level.toLevel(logging.level(), Level.INFO));
    }
    if (Boolean.TRUE.equals(logging.json())) {
      for (Iterator<Appender<ILoggingEvent>> it = root.iteratorForAppenders(); it.hasNext(); ) {
        if (it.next() instanceof OutputStreamAppender<ILoggingEvent> out) {
          JsonEncoder json = new JsonEncoder();
          json.setContext(context);
          json.setWithFormattedMessage(true);
          json.setWithArguments(false);
          json.setWithContext(false);
          json.start();
          out.stop();
          out.setEncoder(json);
          out.start();
        }
      }
    }
  }
}
