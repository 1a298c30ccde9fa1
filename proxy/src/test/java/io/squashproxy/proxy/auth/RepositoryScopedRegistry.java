package io.squashproxy.proxy.auth;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.testing.TestImage;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import io.squashproxy.proxy.upstream.Upstream;
import java.io.IOException;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory upstream that, like Distribution, serves a manifest or blob by digest only through a
 * repository that holds it (the in-memory registry alone serves any digest through any name).
 */
final class RepositoryScopedRegistry implements Upstream {
  private final InMemoryRegistry delegate;
  private final Map<String, Set<Digest>> held = new ConcurrentHashMap<>();
  final AtomicInteger refused = new AtomicInteger();
  /** Every request, answered or not (also while down). */
  final AtomicInteger requests = new AtomicInteger();

  RepositoryScopedRegistry(String name) {
    this.delegate = new InMemoryRegistry(name);
  }

  Digest push(String repository, String tag, TestImage image) {
    Digest m = delegate.push(repository, tag, image);
    Set<Digest> s = held.computeIfAbsent(repository, r -> ConcurrentHashMap.newKeySet());
    s.add(m);
    s.add(image.configDigest());
    s.addAll(image.layerDigests());
    return m;
  }

  void setDown(boolean down) {
    delegate.setDown(down);
  }

  private boolean holds(String repository, String reference) {
    requests.incrementAndGet();
    if (!reference.contains(":")) {
      return true;
    }
    boolean ok = held.getOrDefault(repository, Set.of()).contains(Digest.parse(reference));
    if (!ok) {
      refused.incrementAndGet();
    }
    return ok;
  }

  @Override
  public String name() {
    return delegate.name();
  }

  @Override
  public Optional<RawManifest> manifest(String repository, String reference) throws IOException {
    return holds(repository, reference) ? delegate.manifest(repository, reference) : Optional.empty();
  }

  @Override
  public Optional<ManifestHead> headManifest(String repository, String reference) throws IOException {
    return holds(repository, reference) ? delegate.headManifest(repository, reference) : Optional.empty();
  }

  @Override
  public Optional<BlobStream> blob(String repository, Digest digest) throws IOException {
    return holds(repository, digest.toString()) ? delegate.blob(repository, digest) : Optional.empty();
  }

  @Override
  public Optional<TagPage> tags(String repository, Integer n, String last) throws IOException {
    return delegate.tags(repository, n, last);
  }

  @Override
  public void close() {}
}
