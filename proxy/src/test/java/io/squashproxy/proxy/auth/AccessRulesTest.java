package io.squashproxy.proxy.auth;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.config.ProxyConfig.AccessRule;
import java.util.List;
import org.junit.jupiter.api.Test;

class AccessRulesTest {
  private final AccessRules rules = AccessRules.from(List.of(
      new AccessRule("team-a/**", List.of("alice"), false),
      new AccessRule("public/*", null, true),
      new AccessRule("locked/**", List.of(), false)));

  @Test
  void theFirstMatchingRuleDecides() {
    assertTrue(rules.mayPull("team-a/app", "alice"));
    assertTrue(rules.mayPull("team-a/deep/app", "alice"), "** crosses components");
    assertFalse(rules.mayPull("team-a/app", "bob"));
    assertFalse(rules.mayPull("team-a/app", null));
    assertTrue(rules.mayPull("public/tool", null));
    assertTrue(rules.mayPull("public/tool", "bob"), "no users key: every user");
    assertFalse(rules.mayPull("public/deep/tool", null), "* stays within a component, as in squash rules");
    assertFalse(rules.mayPull("locked/x", "alice"), "users: [] is nobody");
  }

  @Test
  void withoutAMatchingRuleUsersMayPullAndAnonymousClientsMayNot() {
    assertTrue(rules.mayPull("library/nginx", "bob"));
    assertFalse(rules.mayPull("library/nginx", null));
    assertFalse(new AccessRules(List.of()).mayPull("x", null));
  }
}
