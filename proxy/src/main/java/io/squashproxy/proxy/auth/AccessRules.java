package io.squashproxy.proxy.auth;

import io.squashproxy.config.ProxyConfig;
import io.squashproxy.proxy.service.SquashRule;
import java.util.List;

/**
 * Who may pull which repositories. Rules are tried in order and the first whose glob matches the routed
 * repository name ({@code library/nginx}, {@code ghcr.io/owner/img}; globs as in squash rules) decides.
 * No match: every authenticated user may pull, anonymous clients may not.
 */
public final class AccessRules {
  private final List<Rule> rules;

  /**
   * @param users who may pull; null means every authenticated user
   */
  public record Rule(SquashRule glob, List<String> users, boolean anonymous) {
    boolean allows(String user) {
      return user == null ? anonymous : users == null || users.contains(user);
    }
  }

  public AccessRules(List<Rule> rules) {
    this.rules = List.copyOf(rules);
  }

  public static AccessRules from(List<ProxyConfig.AccessRule> config) {
    return new AccessRules(config.stream()
        .map(r -> new Rule(SquashRule.all(r.match()), r.users(), Boolean.TRUE.equals(r.anonymous())))
        .toList());
  }

  /**
   * @param repository the routed (canonical) name
   * @param user the authenticated user, or null for an anonymous client
   */
  public boolean mayPull(String repository, String user) {
    for (Rule r : rules) {
      if (r.glob().matches(repository)) {
        return r.allows(user);
      }
    }
    return user != null;
  }
}
