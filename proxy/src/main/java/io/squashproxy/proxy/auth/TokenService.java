package io.squashproxy.proxy.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Issues and checks the bearer tokens of the registry token flow: JWTs (HS256) carrying Distribution's
 * {@code access} claim ({@code [{"type":"repository","name":"team/app","actions":["pull"]}]}), signed with
 * the configured key or a random one per start (docker just fetches a new token after a restart).
 */
public final class TokenService {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();
  private static final String HEADER = B64.encodeToString(
      "{\"alg\":\"HS256\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8));
  /** Clocks of replicas sharing a key drift a little. */
  private static final Duration LEEWAY = Duration.ofSeconds(30);

  private final byte[] key;
  private final String service;
  private final Duration expiry;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();

  /** A checked token: who it is for ({@code null} for anonymous) and the repositories it may pull. */
  public record Token(String user, Set<String> pull) {}

  /** What the token endpoint answers with. */
  public record Issued(String token, long expiresIn, Instant issuedAt) {}

  /** @param key the signing key; null for a random one */
  public TokenService(String key, String service, Duration expiry, Clock clock) {
    if (key == null) {
      this.key = new byte[32];
      random.nextBytes(this.key);
    } else {
      this.key = key.getBytes(StandardCharsets.UTF_8);
    }
    this.service = service;
    this.expiry = expiry;
    this.clock = clock;
  }

  public String service() {
    return service;
  }

  /** @param user null for an anonymous client */
  public Issued issue(String user, Set<String> pullRepositories) {
    Instant now = clock.instant();
    ObjectNode claims = JSON.createObjectNode();
    claims.put("iss", service);
    claims.put("sub", user == null ? "" : user);
    claims.put("aud", service);
    claims.put("iat", now.getEpochSecond());
    claims.put("nbf", now.getEpochSecond());
    claims.put("exp", now.plus(expiry).getEpochSecond());
    byte[] jti = new byte[12];
    random.nextBytes(jti);
    claims.put("jti", B64.encodeToString(jti));
    ArrayNode access = claims.putArray("access");
    for (String repo : pullRepositories) {
      ObjectNode a = access.addObject();
      a.put("type", "repository");
      a.put("name", repo);
      a.putArray("actions").add("pull");
    }
    String signingInput = HEADER + "." + B64.encodeToString(claims.toString().getBytes(StandardCharsets.UTF_8));
    return new Issued(signingInput + "." + B64.encodeToString(mac(signingInput)), expiry.toSeconds(), now);
  }

  /** The token's grant, if it is one we signed, for this service, and current. */
  public Optional<Token> check(String token) {
    String[] parts = token.split("\\.", -1);
    if (parts.length != 3 || !parts[0].equals(HEADER)) {
      return Optional.empty();
    }
    byte[] signature;
    JsonNode claims;
    try {
      signature = B64D.decode(parts[2]);
      if (!MessageDigest.isEqual(signature, mac(parts[0] + "." + parts[1]))) {
        return Optional.empty();
      }
      claims = JSON.readTree(B64D.decode(parts[1]));
    } catch (IllegalArgumentException | java.io.IOException e) {
      return Optional.empty();
    }
    long now = clock.instant().getEpochSecond();
    if (!service.equals(claims.path("aud").asText()) || claims.path("exp").asLong(0) + LEEWAY.toSeconds() < now
        || claims.path("nbf").asLong(Long.MAX_VALUE) - LEEWAY.toSeconds() > now) {
      return Optional.empty();
    }
    Set<String> pull = new LinkedHashSet<>();
    for (JsonNode a : claims.path("access")) {
      boolean pulls = false;
      for (JsonNode action : a.path("actions")) {
        pulls |= "pull".equals(action.asText());
      }
      if ("repository".equals(a.path("type").asText()) && pulls) {
        pull.add(a.path("name").asText());
      }
    }
    String sub = claims.path("sub").asText("");
    return Optional.of(new Token(sub.isEmpty() ? null : sub, pull));
  }

  private byte[] mac(String signingInput) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal(signingInput.getBytes(StandardCharsets.US_ASCII));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }
}
