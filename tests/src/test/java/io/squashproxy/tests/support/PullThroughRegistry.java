package io.squashproxy.tests.support;

/**
 * CNCF Distribution's own pull-through cache ({@code docker-registry serve} with {@code proxy.remoteurl}) in
 * front of an upstream, on a free 127.0.0.1 port with its own empty storage: the reference a pull through
 * Squash Proxy is compared with. Plain http, no auth. Started by {@link DistributionRegistry}.
 */
public final class PullThroughRegistry implements AutoCloseable {

  private final DistributionRegistry registry;

  private PullThroughRegistry(DistributionRegistry registry) {
    this.registry = registry;
  }

  /** @param upstreamUrl e.g. {@code http://127.0.0.1:5000} */
  public static PullThroughRegistry start(String upstreamUrl) {
    return new PullThroughRegistry(DistributionRegistry.startPullThrough(upstreamUrl));
  }

  /** {@code docker://127.0.0.1:PORT/REPO[:TAG]}. */
  public String ref(String repoAndTag) {
    return registry.ref(repoAndTag);
  }

  @Override
  public void close() {
    registry.close();
  }
}
