package io.squashproxy.proxy.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * Records what some loggers say during a test: Netty's leak reports ({@code LEAK: ...} from
 * ResourceLeakDetector), exceptions that reach the tail of a pipeline, and our own "unexpected failure"
 * errors. Restores the levels it changed on close.
 */
final class LogCapture implements AutoCloseable {
  private final List<Logger> loggers = new ArrayList<>();
  private final List<Level> levels = new ArrayList<>();
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  LogCapture(Level level, String... names) {
    appender.start();
    for (String name : names) {
      Logger l = (Logger) LoggerFactory.getLogger(name);
      loggers.add(l);
      levels.add(l.getLevel());
      l.setLevel(level);
      l.addAppender(appender);
    }
  }

  /** Events at WARN or above, formatted with their logger, for failure messages. */
  synchronized List<String> problems() {
    List<String> out = new ArrayList<>();
    for (ILoggingEvent e : new ArrayList<>(appender.list)) {
      if (e.getLevel().isGreaterOrEqual(Level.WARN)) {
        out.add(e.getLoggerName() + " " + e.getLevel() + ": " + e.getFormattedMessage()
            + (e.getThrowableProxy() == null ? "" : " (" + e.getThrowableProxy().getClassName() + ": "
            + e.getThrowableProxy().getMessage() + ")"));
      }
    }
    return out;
  }

  /** Every event's formatted message. */
  List<String> messages() {
    return new ArrayList<>(appender.list).stream().map(ILoggingEvent::getFormattedMessage).toList();
  }

  @Override
  public void close() {
    for (int i = 0; i < loggers.size(); i++) {
      loggers.get(i).detachAppender(appender);
      loggers.get(i).setLevel(levels.get(i));
    }
    appender.stop();
  }
}
