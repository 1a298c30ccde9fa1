package io.squashproxy.proxy.cli;

import io.squashproxy.proxy.app.ServeCommand;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/**
 * The {@code squash-proxy} command. Exit codes: 0 success, 1 bad input (the message names the file, layer
 * and entry), 2 usage error.
 */
@Command(
    name = "squash-proxy",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Squashes container image layers into one, keeping the root filesystem identical.",
    subcommands = {
        HelpCommand.class,
        SquashCommand.class,
        AnalyzeCommand.class,
        ServeCommand.class,
        WarmCommand.class,
        // A new subcommand is one more line here.
    })
public final class Main implements Runnable {
  public static final int EXIT_OK = 0;
  public static final int EXIT_BAD_INPUT = 1;
  public static final int EXIT_USAGE = 2;

  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  @Spec
  CommandSpec spec;

  public static void main(String[] args) {
    // Libraries that log through java.util.logging (Caffeine, Jib's HTTP client) go to logback too.
    org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
    org.slf4j.bridge.SLF4JBridgeHandler.install();
    System.exit(commandLine().execute(args));
  }

  /** The configured command line, for {@code main} and for tests that run commands in-process. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(new ErrorReporter());
    return cl;
  }

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "Missing required subcommand");
  }

  /** A failure becomes one line on stderr: users need the file at fault, not our stack. */
  static final class ErrorReporter implements IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, ParseResult parsed) {
      if (ex instanceof IOException) {
        LOG.debug("failed", ex);
        cl.getErr().println("error: " + ex.getMessage());
      } else {
        LOG.debug("internal error", ex);
        cl.getErr().println("internal error: " + ex + " (set SQUASH_LOG_LEVEL=DEBUG for the stack trace)");
      }
      cl.getErr().flush();
      return EXIT_BAD_INPUT;
    }
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"squash-proxy " + (v == null ? "(development build)" : v)};
    }
  }
}
