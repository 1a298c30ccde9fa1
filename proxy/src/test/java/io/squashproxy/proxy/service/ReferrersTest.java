package io.squashproxy.proxy.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.proxy.upstream.Upstream;
import io.squashproxy.proxy.upstream.UpstreamException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What {@link Referrers} makes of upstream's answers: the API's list, filtered here even when upstream did
 * not filter; the fallback tag's index when the API is absent; an empty index when neither exists; a broken
 * list is upstream's fault (502); a squashed digest asks about its source.
 */
class ReferrersTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Digest SOURCE = Digest.sha256("source".getBytes(StandardCharsets.UTF_8));
  static final Digest SQUASHED = Digest.sha256("squashed".getBytes(StandardCharsets.UTF_8));
  static final String LIST = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      + "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
      + "a".repeat(64) + "\",\"size\":1,\"artifactType\":\"application/spdx+json\"},{\"mediaType\":"
      + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + "b".repeat(64)
      + "\",\"size\":2,\"artifactType\":\"application/vnd.example.sig\"}]}";

  /** An upstream with (or without: null) a referrers API and fallback-tag indexes by tag. */
  static final class FakeUpstream implements Upstream {
    final String api;
    final Map<String, String> tags;
    final List<Digest> askedAbout = new ArrayList<>();

    FakeUpstream(String api, Map<String, String> tags) {
      this.api = api;
      this.tags = tags;
    }

    @Override
    public Optional<ReferrersPage> referrers(String repository, Digest subject, String artifactType) {
      askedAbout.add(subject);
      return api == null ? Optional.empty()
          : Optional.of(new ReferrersPage(api.getBytes(StandardCharsets.UTF_8), null));
    }

    @Override
    public Optional<RawManifest> manifest(String repository, String reference) {
      String body = tags.get(reference);
      return body == null ? Optional.empty() : Optional.of(new RawManifest(body.getBytes(StandardCharsets.UTF_8),
          "application/vnd.oci.image.index.v1+json", Digest.sha256(body.getBytes(StandardCharsets.UTF_8))));
    }

    @Override
    public String name() {
      return "up";
    }

    @Override
    public Optional<ManifestHead> headManifest(String repository, String reference) {
      throw new UnsupportedOperationException("referrers never HEAD");
    }

    @Override
    public Optional<BlobStream> blob(String repository, Digest digest) {
      throw new UnsupportedOperationException("referrers read no blobs");
    }

    @Override
    public Optional<TagPage> tags(String repository, Integer n, String last) {
      throw new UnsupportedOperationException("referrers list no tags");
    }

    @Override
    public void close() {}
  }

  static Referrers.Listing list(FakeUpstream up, Digest digest, String artifactType) throws Exception {
    Route route = new Route(up, "app", "app", "app",
        new SquashRule("**", SquashRule.Mode.ALL, 0, null, Compression.GZIP, List.of()));
    Referrers referrers = new Referrers(Runnable::run, d -> d.equals(SQUASHED) ? SOURCE : d);
    return referrers.list(route, digest, artifactType).get(10, TimeUnit.SECONDS);
  }

  static JsonNode manifests(Referrers.Listing l) throws Exception {
    JsonNode index = JSON.readTree(l.index());
    assertEquals("application/vnd.oci.image.index.v1+json", index.path("mediaType").asText());
    return index.path("manifests");
  }

  @Test
  void theApisListIsFilteredHereWhenAsked() throws Exception {
    FakeUpstream up = new FakeUpstream(LIST, Map.of());
    Referrers.Listing all = list(up, SOURCE, null);
    assertEquals(2, manifests(all).size());
    assertTrue(!all.filtered());
    Referrers.Listing sboms = list(up, SOURCE, "application/spdx+json");
    assertEquals(1, manifests(sboms).size());
    assertEquals("sha256:" + "a".repeat(64), manifests(sboms).get(0).path("digest").asText());
    assertTrue(sboms.filtered());
  }

  @Test
  void withoutTheApiTheFallbackTagIsReadAndWithoutEitherTheIndexIsEmpty() throws Exception {
    FakeUpstream up = new FakeUpstream(null, Map.of("sha256-" + SOURCE.hex(), LIST));
    assertEquals(2, manifests(list(up, SOURCE, null)).size());
    Referrers.Listing none = list(new FakeUpstream(null, Map.of()), SOURCE, "application/spdx+json");
    assertEquals(0, manifests(none).size());
    assertTrue(none.filtered(), "a filter asked for is applied, to nothing");
    assertNull(none.link());
  }

  @Test
  void aSquashedDigestAsksAboutItsSource() throws Exception {
    FakeUpstream up = new FakeUpstream(LIST, Map.of());
    assertEquals(2, manifests(list(up, SQUASHED, null)).size());
    assertEquals(List.of(SOURCE), up.askedAbout);
  }

  @Test
  void aBrokenListIsUpstreamsFault() {
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> list(new FakeUpstream("{\"manifests\":3}", Map.of()), SOURCE, null));
    UpstreamException u = (UpstreamException) e.getCause();
    assertEquals(502, u.status());
    assertTrue(u.getMessage().contains("no manifests array"), u.getMessage());
  }
}
