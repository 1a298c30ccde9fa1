package io.squashproxy.proxy.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TokenServiceTest {
  private static final String KEY = "0123456789abcdef0123456789abcdef";
  private final Instant t0 = Instant.parse("2026-01-01T00:00:00Z");

  private TokenService at(Instant now, String key, String service) {
    return new TokenService(key, service, Duration.ofMinutes(5), Clock.fixed(now, ZoneOffset.UTC));
  }

  @Test
  void aTokenCarriesItsUserAndPullScopesUntilItExpires() {
    String token = at(t0, KEY, "svc").issue("alice", Set.of("team-a/app")).token();
    TokenService.Token t = at(t0.plusSeconds(60), KEY, "svc").check(token).orElseThrow();
    assertEquals("alice", t.user());
    assertEquals(Set.of("team-a/app"), t.pull());
    assertTrue(at(t0.plus(Duration.ofMinutes(5)).plusSeconds(29), KEY, "svc").check(token).isPresent(),
        "30 s of clock leeway between replicas");
    assertTrue(at(t0.plus(Duration.ofMinutes(6)), KEY, "svc").check(token).isEmpty(), "expired");
    assertTrue(at(t0.minusSeconds(120), KEY, "svc").check(token).isEmpty(), "not yet valid");
  }

  @Test
  void onlyTokensSignedWithOurKeyForOurServiceCount() {
    String token = at(t0, KEY, "svc").issue("alice", Set.of("a")).token();
    assertTrue(at(t0, KEY.replace('0', 'x'), "svc").check(token).isEmpty(), "another key");
    assertTrue(at(t0, KEY, "other").check(token).isEmpty(), "another service");
    assertTrue(at(t0, null, "svc").check(token).isEmpty(), "a random key per start");
    String[] parts = token.split("\\.");
    String forged = parts[0] + "." + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(
        "{\"aud\":\"svc\",\"sub\":\"root\",\"exp\":9999999999,\"nbf\":0,\"access\":[]}".getBytes()) + "." + parts[2];
    assertTrue(at(t0, KEY, "svc").check(forged).isEmpty(), "claims changed under the signature");
    String none = "eyJhbGciOiJub25lIn0." + parts[1] + ".";
    assertTrue(at(t0, KEY, "svc").check(none).isEmpty(), "alg none");
    assertTrue(at(t0, KEY, "svc").check("garbage").isEmpty());
  }

  @Test
  void anAnonymousTokenHasNoUser() {
    TokenService s = at(t0, KEY, "svc");
    assertNull(s.check(s.issue(null, Set.of("public/x")).token()).orElseThrow().user());
  }
}
