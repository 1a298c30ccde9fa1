package io.squashproxy.proxy.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.config.ProxyConfig;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class LogSetupTest {

  @Test
  void jsonLoggingWritesOneJsonObjectPerEventAndTheLevelIsApplied() throws Exception {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    @SuppressWarnings("unchecked")
    OutputStreamAppender<ILoggingEvent> appender =
        (OutputStreamAppender<ILoggingEvent>) root.iteratorForAppenders().next();
    Encoder<ILoggingEvent> original = appender.getEncoder();
    Level level = root.getLevel();
    try {
      LogSetup.apply(new ProxyConfig.Logging("warn", true, false));
      if (System.getenv("SQUASH_LOG_LEVEL") == null) {
        assertEquals(Level.WARN, root.getLevel());
      }
      assertTrue(appender.getEncoder() instanceof JsonEncoder);
      LoggingEvent e = new LoggingEvent("x", root, Level.WARN, "squashed {}", null, new Object[] {"app"});
      byte[] line = appender.getEncoder().encode(e);
      var json = new ObjectMapper().readTree(new String(line, StandardCharsets.UTF_8).strip());
      assertEquals("squashed app", json.path("formattedMessage").asText());
      assertEquals("WARN", json.path("level").asText());
    } finally {
      appender.stop();
      appender.setEncoder(original);
      appender.start();
      root.setLevel(level);
    }
  }
}
