package io.squashproxy.tests.support;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.TestImage;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * Pushes an image built in memory ({@link TestImage}) to a registry with the distribution spec's monolithic
 * upload ({@code POST} then {@code PUT ?digest=}) and a manifest {@code PUT}: no skopeo, umoci or root needed.
 */
public final class RegistryPush {
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private RegistryPush() {}

  /** Pushes config, layers and manifest; returns the manifest digest. */
  public static Digest push(String host, String repo, String tag, TestImage image) {
    blob(host, repo, image.configDigest(), image.config());
    for (int i = 0; i < image.layerBlobs().size(); i++) {
      blob(host, repo, image.layerDigests().get(i), image.layerBlobs().get(i));
    }
    String mediaType = image.manifestJson().path("mediaType").asText("application/vnd.oci.image.manifest.v1+json");
    HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create("http://" + host + "/v2/" + repo + "/manifests/"
        + tag)).header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(image.manifest())));
    if (r.statusCode() != 201) {
      throw new AssertionError("PUT manifest " + repo + ":" + tag + ": " + r.statusCode() + " " + r.body());
    }
    return image.manifestDigest();
  }

  /** Puts {@code manifest} at {@code reference} (a tag or its digest); returns its digest. */
  public static Digest manifest(String host, String repo, String reference, String mediaType, byte[] manifest) {
    HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create("http://" + host + "/v2/" + repo + "/manifests/"
        + reference)).header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(manifest)));
    if (r.statusCode() != 201) {
      throw new AssertionError("PUT manifest " + repo + ":" + reference + ": " + r.statusCode() + " " + r.body());
    }
    return Digest.sha256(manifest);
  }

  /** One blob, uploaded monolithically. */
  public static void blob(String host, String repo, Digest digest, byte[] bytes) {
    HttpResponse<String> start = send(HttpRequest.newBuilder(URI.create("http://" + host + "/v2/" + repo
        + "/blobs/uploads/")).POST(HttpRequest.BodyPublishers.noBody()));
    if (start.statusCode() != 202) {
      throw new AssertionError("POST upload " + repo + ": " + start.statusCode() + " " + start.body());
    }
    String location = start.headers().firstValue("Location").orElseThrow();
    URI uri = URI.create("http://" + host).resolve(location);
    String put = uri + (uri.getQuery() == null ? "?" : "&") + "digest=" + digest;
    HttpResponse<String> done = send(HttpRequest.newBuilder(URI.create(put))
        .header("Content-Type", "application/octet-stream").PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)));
    if (done.statusCode() != 201) {
      throw new AssertionError("PUT blob " + digest + ": " + done.statusCode() + " " + done.body());
    }
  }

  private static HttpResponse<String> send(HttpRequest.Builder b) {
    try {
      return HTTP.send(b.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new AssertionError(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
