package io.squashproxy.proxy.upstream;

import java.net.URI;
import java.time.Duration;

/**
 * One upstream registry.
 *
 * @param name key of this upstream's cache entries and metrics
 * @param url scheme, host and port ({@code https://registry-1.docker.io}, {@code http://127.0.0.1:5000})
 * @param prefix the first name component that routes to it ({@code ghcr.io}); null for the default
 * @param dockerHub adds {@code library/} to one-component names, as docker does
 * @param username with {@code password}: basic credentials for the token or basic flow; null for none
 * @param credentialHelper a docker credential helper name ({@code ecr-login}); null to use the docker
 *     config file (and its helpers) when no username is given
 * @param connectTimeout to open a connection
 * @param requestTimeout from sending a request to its response headers (the first byte)
 * @param idleTimeout longest pause between body bytes before the transfer counts as stalled
 * @param retry how failed requests and broken-off blob bodies are retried
 */
public record UpstreamSettings(
    String name,
    URI url,
    String prefix,
    boolean dockerHub,
    String username,
    String password,
    String credentialHelper,
    Duration connectTimeout,
    Duration requestTimeout,
    Duration idleTimeout,
    RetryPolicy retry) {

  public UpstreamSettings {
    if (url.getScheme() == null || !(url.getScheme().equals("http") || url.getScheme().equals("https"))) {
      throw new IllegalArgumentException("upstream url must be http:// or https://: " + url);
    }
    if (url.getHost() == null) {
      throw new IllegalArgumentException("upstream url has no host: " + url);
    }
    connectTimeout = connectTimeout == null ? Duration.ofSeconds(10) : connectTimeout;
    requestTimeout = requestTimeout == null ? Duration.ofSeconds(60) : requestTimeout;
    idleTimeout = idleTimeout == null ? Duration.ofSeconds(60) : idleTimeout;
    retry = retry == null ? RetryPolicy.defaults() : retry;
  }

  /** With the default idle timeout and retry policy. */
  public UpstreamSettings(String name, URI url, String prefix, boolean dockerHub, String username,
      String password, String credentialHelper, Duration connectTimeout, Duration requestTimeout) {
    this(name, url, prefix, dockerHub, username, password, credentialHelper, connectTimeout, requestTimeout,
        null, null);
  }

  public static UpstreamSettings of(String name, String url) {
    URI uri = URI.create(url);
    boolean hub = uri.getHost() != null && uri.getHost().endsWith("docker.io");
    return new UpstreamSettings(name, uri, null, hub, null, null, null, null, null);
  }

  public boolean plainHttp() {
    return url.getScheme().equals("http");
  }

  /** {@code host[:port]} as Jib and credential stores name the registry. */
  public String registryHost() {
    return url.getPort() < 0 ? url.getHost() : url.getHost() + ":" + url.getPort();
  }

  @Override
  public String toString() {
    // Never print credentials.
    return "upstream " + name + " (" + url + ")";
  }
}
