package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A container started with {@code docker run -d} on a {@link Dockerd}; {@link #close()} removes it with its
 * anonymous volumes ({@code docker rm -f -v}).
 */
public final class DockerContainer implements AutoCloseable {

  private final Dockerd docker;
  private final String id;

  private DockerContainer(Dockerd docker, String id) {
    this.docker = docker;
    this.id = id;
  }

  /** {@code docker run -d OPTIONS IMAGE [COMMAND...]}. */
  public static DockerContainer run(Dockerd docker, List<String> options, String image, String... command) {
    List<String> args = new ArrayList<>(List.of("run", "-d"));
    args.addAll(options);
    args.add(image);
    args.addAll(Arrays.asList(command));
    String id = docker.docker(args.toArray(new String[0])).stdout().strip();
    return new DockerContainer(docker, id);
  }

  public String id() {
    return id;
  }

  /** {@code docker inspect ID}, the one object of its array. */
  public JsonNode inspect() {
    try {
      return ImageArchive.JSON.readTree(docker.docker("inspect", id).stdout()).get(0);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code docker exec ID COMMAND...}, whatever its exit code. */
  public Proc.Result exec(String... command) {
    List<String> args = new ArrayList<>(List.of("exec", id));
    args.addAll(Arrays.asList(command));
    return docker.cli(args.toArray(new String[0])).timeout(Duration.ofMinutes(1)).run();
  }

  /** As {@link #exec}, failing with the output (and the container's log) on a non-zero exit. */
  public String execOk(String... command) {
    Proc.Result r = exec(command);
    if (r.exitCode() != 0) {
      throw new AssertionError("docker exec failed: " + r.describe() + "\ncontainer log:\n" + logs());
    }
    return r.stdout();
  }

  /** Everything the container printed (stdout and stderr). */
  public String logs() {
    return docker.cli("logs", id).timeout(Duration.ofSeconds(30)).run().output();
  }

  /** The last part of {@link #logs()}, for failure messages. */
  public String logTail() {
    String s = logs();
    return s.length() > 6000 ? "..." + s.substring(s.length() - 6000) : s;
  }

  /** {@code State.Health.Status}: starting, healthy or unhealthy; "none" without a health check. */
  public String healthStatus() {
    JsonNode h = inspect().path("State").path("Health");
    return h.isMissingNode() || h.isNull() ? "none" : h.path("Status").asText();
  }

  /** Polls the health status until it is healthy or unhealthy, or {@code max} passed; returns the last one. */
  public String awaitHealth(Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    String status = healthStatus();
    while (status.equals("starting") && System.nanoTime() < deadline) {
      DistributionRegistry.sleep(1000);
      status = healthStatus();
    }
    return status;
  }

  /** Waits until {@code GET url} (from the host) answers 200; fails with the container's log after {@code max}. */
  public void awaitHttp200(String url, Duration max) {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).GET().build();
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      if (!inspect().path("State").path("Running").asBoolean()) {
        throw new AssertionError("the container exited (" + inspect().path("State") + "):\n" + logTail());
      }
      try {
        if (http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not up yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
      DistributionRegistry.sleep(250);
    }
    throw new AssertionError(url + " did not answer 200 within " + max.toSeconds() + " s; container log:\n"
        + logTail());
  }

  @Override
  public void close() {
    docker.cli("rm", "-f", "-v", id).timeout(Duration.ofMinutes(1)).run();
  }
}
