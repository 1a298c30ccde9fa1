package io.squashproxy.tests.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Copies an image from a registry into an OCI layout byte for byte, keeping the registry's manifest as it is
 * (Docker schema2 media types included), which skopeo would convert to OCI. Tools such as crane write layouts
 * like this.
 */
public final class RegistryFetch {

  private static final String ACCEPT = String.join(", ",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.oci.image.manifest.v1+json");

  private RegistryFetch() {}

  public static Path toLayout(DistributionRegistry reg, String repo, String tag, Path layout) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
        .followRedirects(HttpClient.Redirect.NORMAL).build();
    String base = "http://" + reg.host() + "/v2/" + repo;
    try {
      Files.createDirectories(layout.resolve("blobs/sha256"));
      HttpResponse<byte[]> m = http.send(HttpRequest.newBuilder(URI.create(base + "/manifests/" + tag))
          .header("Accept", ACCEPT).timeout(Duration.ofSeconds(30)).GET().build(),
          HttpResponse.BodyHandlers.ofByteArray());
      if (m.statusCode() != 200) {
        throw new AssertionError("GET manifest: " + m.statusCode() + " " + new String(m.body(), StandardCharsets.UTF_8));
      }
      byte[] manifest = m.body();
      String mediaType = m.headers().firstValue("Content-Type").orElseThrow();
      String digest = "sha256:" + HexFormat.of().formatHex(RootfsTree.sha256().digest(manifest));
      Files.write(layout.resolve(ImageArchive.blobPath(digest)), manifest);
      JsonNode mj = ImageArchive.JSON.readTree(manifest);
      List<String> blobs = new ArrayList<>();
      blobs.add(mj.get("config").get("digest").asText());
      for (JsonNode l : mj.get("layers")) {
        blobs.add(l.get("digest").asText());
      }
      for (String b : blobs) {
        HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(base + "/blobs/" + b))
            .timeout(Duration.ofMinutes(2)).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        if (r.statusCode() != 200) {
          throw new AssertionError("GET blob " + b + ": " + r.statusCode());
        }
        try (InputStream in = r.body()) {
          Files.copy(in, layout.resolve(ImageArchive.blobPath(b)), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
      ObjectNode index = ImageArchive.JSON.createObjectNode();
      index.put("schemaVersion", 2);
      ArrayNode ms = index.putArray("manifests");
      ObjectNode d = ms.addObject();
      d.put("mediaType", mediaType);
      d.put("digest", digest);
      d.put("size", manifest.length);
      d.putObject("annotations").put("org.opencontainers.image.ref.name", tag);
      Files.write(layout.resolve("index.json"), ImageArchive.JSON.writeValueAsBytes(index));
      return layout;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
