package io.squashproxy.proxy.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.service.Route;
import io.squashproxy.proxy.service.Upstreams;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.Optional;

/**
 * An image in a registry, read through the configured upstreams (their credentials, Docker Hub's
 * {@code library/} rule, name prefixes) as a pull through the proxy would route it. Blobs stream straight from
 * upstream; the squash code that reads them verifies every digest.
 *
 * @param name the reference as given, with the platform picked from an index
 */
record RegistryImage(String name, Digest digest, byte[] manifest, BlobSource blobs) {

  /**
   * @param reference {@code [host/]repository[:tag|@digest]}, routed as pulls are ({@code nginx},
   *     {@code ghcr.io/owner/img:1}); the tag defaults to {@code latest}
   * @param platform {@code os/arch[/variant]} to pick from an index
   */
  static RegistryImage fetch(Upstreams upstreams, String reference, String platform) throws IOException {
    Names.Reference parsed = Names.Reference.parse(reference);
    String name = parsed.name();
    String ref = parsed.reference();
    if (!Names.isValidName(name)) {
      throw new IOException(reference + ": not an image reference ([host/]repository[:tag|@digest]) nor a file");
    }
    Route route = upstreams.resolve(name, null);
    Upstream up = route.upstream();
    Upstream.RawManifest m = up.manifest(route.repository(), ref).orElseThrow(() -> new IOException(
        reference + ": not found in " + up.name() + " (repository " + route.repository() + ")"));
    String label = reference;
    if (MediaTypes.isIndex(m.mediaType()) || ImageIndex.looksLikeIndex(m.bytes())) {
      Descriptor pick = pick(ImageIndex.parse(m.bytes()), platform, reference);
      label = reference + " [" + platform + "]";
      m = up.manifest(route.repository(), pick.digest().toString()).orElseThrow(() -> new IOException(
          reference + ": index entry " + pick.digest() + " for " + platform + " is missing upstream"));
    }
    BlobSource blobs = d -> open(up, route.repository(), d);
    return new RegistryImage(label, m.digest(), m.bytes(), blobs);
  }

  private static java.io.InputStream open(Upstream up, String repository, Digest d) throws IOException {
    Optional<Upstream.BlobStream> blob = up.blob(repository, d);
    if (blob.isEmpty()) {
      throw new FileNotFoundException("blob " + d + " is missing in " + up.name() + " (" + repository + ")");
    }
    return blob.get().body();
  }

  private static Descriptor pick(ImageIndex index, String platform, String reference) throws IOException {
    String[] want = platform.split("/");
    for (Descriptor d : index.manifests()) {
      JsonNode p = d.json().path("platform");
      if (p.path("os").asText().equals(want[0]) && p.path("architecture").asText().equals(want[1])
          && (want.length < 3 || p.path("variant").asText().equals(want[2]))) {
        return d;
      }
    }
    throw new IOException(reference + ": the index has no image for platform " + platform + " (--platform)");
  }
}
