package io.squashproxy.proxy.service;

import java.util.List;

/** Squash rules in order; the first whose glob matches wins, and no match means {@code auto}. */
public record Rules(List<SquashRule> rules) {
  public Rules {
    rules = List.copyOf(rules);
  }

  public static Rules squashEverything() {
    return new Rules(List.of(SquashRule.all("**")));
  }

  public SquashRule match(String repository) {
    for (SquashRule r : rules) {
      if (r.matches(repository)) {
        return r;
      }
    }
    return SquashRule.auto("**");
  }
}
