package io.squashproxy.proxy.cli;

import io.squashproxy.core.image.ImageJson;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code warm}: asks a running proxy (its admin listener's {@code POST /warm}) to squash images ahead of
 * demand, for a deploy pipeline that knows what a cluster is about to pull. Returns once they are queued.
 */
@Command(name = "warm", mixinStandardHelpOptions = true,
    description = "Queues images to be squashed ahead of demand by a running proxy (admin listener).")
public final class WarmCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Option(names = "--admin", paramLabel = "URL", defaultValue = "http://127.0.0.1:5001",
      description = "The proxy's admin listener (default ${DEFAULT-VALUE}).")
  String admin;

  @Option(names = "--secret", paramLabel = "SECRET", defaultValue = "${env:SQUASH_NOTIFICATIONS_SECRET}",
      description = "admin.notifications.secret (default: $SQUASH_NOTIFICATIONS_SECRET).")
  String secret;

  @Parameters(paramLabel = "IMAGE", arity = "1..*",
      description = "Image references as pulled through the proxy: NAME:TAG, NAME@DIGEST or NAME.")
  List<String> images;

  @Override
  public Integer call() throws Exception {
    java.io.PrintWriter err = spec.commandLine().getErr();
    if (secret == null || secret.isBlank()) {
      err.println("squash-proxy warm: no secret: pass --secret or set SQUASH_NOTIFICATIONS_SECRET");
      return Main.EXIT_USAGE;
    }
    var body = ImageJson.MAPPER.createObjectNode();
    var list = body.putArray("images");
    images.forEach(list::add);
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpResponse<String> r;
    try {
      r = http.send(HttpRequest.newBuilder(URI.create(admin.replaceAll("/+$", "") + "/warm"))
          .header("Authorization", "Bearer " + secret).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofByteArray(ImageJson.write(body))).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      err.println("squash-proxy warm: " + admin + ": " + e.getMessage());
      return Main.EXIT_BAD_INPUT;
    }
    if (r.statusCode() != 202) {
      err.println("squash-proxy warm: " + admin + "/warm answered " + r.statusCode() + ": " + r.body().trim());
      return Main.EXIT_BAD_INPUT;
    }
    spec.commandLine().getOut().print(r.body());
    spec.commandLine().getOut().flush();
    return Main.EXIT_OK;
  }
}
