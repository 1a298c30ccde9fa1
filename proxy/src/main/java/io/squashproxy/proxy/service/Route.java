package io.squashproxy.proxy.service;

import io.squashproxy.proxy.upstream.Upstream;

/**
 * Where a client's repository name leads.
 *
 * @param clientName the name as the client sent it (echoed in tag lists and links)
 * @param canonicalName the name rules match against: {@code library/nginx}, {@code ghcr.io/owner/img}
 * @param repository the repository on the upstream
 */
public record Route(Upstream upstream, String clientName, String canonicalName, String repository,
    SquashRule rule) {}
