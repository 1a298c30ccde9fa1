package io.squashproxy.proxy.server;

import io.squashproxy.proxy.registry.ErrorCode;
import io.squashproxy.proxy.registry.Names;
import io.squashproxy.proxy.registry.RegistryException;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Map;

/**
 * A request to the distribution API, parsed from its path: {@code /v2/}, {@code /v2/<name>/manifests/<ref>},
 * {@code /v2/<name>/blobs/<digest>}, {@code /v2/<name>/tags/list}, {@code /v2/<name>/referrers/<digest>}. Names and references are checked against
 * the spec's grammar here, before anything goes upstream.
 */
public record V2Request(Kind kind, String name, String reference, Map<String, List<String>> query) {

  public enum Kind { BASE, MANIFEST, BLOB, TAGS, REFERRERS, UPLOAD }

  private static final String MANIFESTS = "/manifests/";
  private static final String BLOBS = "/blobs/";
  private static final String TAGS = "/tags/list";
  private static final String UPLOADS = "/blobs/uploads";
  private static final String REFERRERS = "/referrers/";

  /** Parses a request URI; throws {@link RegistryException} (NAME_INVALID, ...) or returns null for 404. */
  public static V2Request parse(String uri) {
    QueryStringDecoder q = new QueryStringDecoder(uri);
    String path = q.rawPath();
    if (path.equals("/v2") || path.equals("/v2/")) {
      return new V2Request(Kind.BASE, null, null, q.parameters());
    }
    if (!path.startsWith("/v2/")) {
      return null;
    }
    String rest = path.substring(4);
    if (rest.contains("%") || rest.contains("//") || rest.contains("..")) {
      // Names are plain ASCII; an escaped or traversing path is never a valid name.
      throw new RegistryException(ErrorCode.NAME_INVALID, "invalid repository name in path");
    }
    int uploads = rest.indexOf(UPLOADS);
    if (uploads > 0) {
      return new V2Request(Kind.UPLOAD, rest.substring(0, uploads), null, q.parameters());
    }
    if (rest.endsWith(TAGS)) {
      return checked(Kind.TAGS, rest.substring(0, rest.length() - TAGS.length()), null, q);
    }
    int rf = rest.lastIndexOf(REFERRERS);
    if (rf > 0 && rest.indexOf('/', rf + REFERRERS.length()) < 0) {
      String ref = rest.substring(rf + REFERRERS.length());
      Names.digest(ref, ErrorCode.DIGEST_INVALID);
      return checked(Kind.REFERRERS, rest.substring(0, rf), ref, q);
    }
    int m = rest.lastIndexOf(MANIFESTS);
    if (m > 0) {
      String ref = rest.substring(m + MANIFESTS.length());
      if (ref.isEmpty() || (!Names.isValidTag(ref) && !Names.isDigest(ref))) {
        throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "invalid manifest reference: " + ref);
      }
      if (Names.isDigest(ref)) {
        Names.digest(ref, ErrorCode.MANIFEST_UNKNOWN);
      }
      return checked(Kind.MANIFEST, rest.substring(0, m), ref, q);
    }
    int b = rest.lastIndexOf(BLOBS);
    if (b > 0) {
      String ref = rest.substring(b + BLOBS.length());
      Names.digest(ref, ErrorCode.DIGEST_INVALID);
      return checked(Kind.BLOB, rest.substring(0, b), ref, q);
    }
    return null;
  }

  private static V2Request checked(Kind kind, String name, String ref, QueryStringDecoder q) {
    if (!Names.isValidName(name)) {
      throw new RegistryException(ErrorCode.NAME_INVALID, "invalid repository name: " + name);
    }
    return new V2Request(kind, name, ref, q.parameters());
  }

  public String param(String key) {
    List<String> v = query.get(key);
    return v == null || v.isEmpty() ? null : v.get(0);
  }
}
