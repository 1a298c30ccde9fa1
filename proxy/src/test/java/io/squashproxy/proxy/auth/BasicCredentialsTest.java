package io.squashproxy.proxy.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BasicCredentialsTest {
  @TempDir
  Path dir;

  private final AtomicLong nanos = new AtomicLong();
  private final AtomicInteger bcrypts = new AtomicInteger();
  /** Runs each check when told to, counting them: bcrypt runs only here. */
  private final List<Runnable> queued = new ArrayList<>();

  private void runQueued() {
    List<Runnable> now = new ArrayList<>(queued);
    queued.clear();
    now.forEach(r -> {
      bcrypts.incrementAndGet();
      r.run();
    });
  }

  private static String basic(String user, String password) {
    return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  private Path htpasswd(String... lines) throws Exception {
    Path f = dir.resolve("htpasswd");
    Files.writeString(f, String.join("\n", lines) + "\n");
    return f;
  }

  private static String entry(String user, String password) {
    return user + ":" + new String(BCrypt.with(BCrypt.Version.VERSION_2Y).hash(4, password.toCharArray()));
  }

  @Test
  void aPullsManyRequestsCostOneBcryptAndSuccessIsTrustedForAMinute() throws Exception {
    BasicCredentials c = new BasicCredentials(new Htpasswd(htpasswd(entry("alice", "pw"))), queued::add,
        nanos::get);
    List<CompletableFuture<Optional<String>>> answers = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      answers.add(c.user(basic("alice", "pw")));
    }
    runQueued();
    assertEquals(1, bcrypts.get(), "concurrent requests with one header share one check");
    answers.forEach(a -> assertEquals(Optional.of("alice"), a.join()));
    assertEquals(Optional.of("alice"), c.user(basic("alice", "pw")).join());
    assertEquals(1, bcrypts.get());

    nanos.addAndGet(BasicCredentials.TRUSTED.plusSeconds(1).toNanos());
    CompletableFuture<Optional<String>> again = c.user(basic("alice", "pw"));
    runQueued();
    assertEquals(2, bcrypts.get(), "checked again after a minute");
    assertEquals(Optional.of("alice"), again.join());
  }

  @Test
  void wrongOrMalformedCredentialsAreRefused() throws Exception {
    BasicCredentials c = new BasicCredentials(new Htpasswd(htpasswd(entry("alice", "pw"))), Runnable::run,
        nanos::get);
    assertTrue(c.user(basic("alice", "PW")).join().isEmpty());
    assertTrue(c.user(basic("bob", "pw")).join().isEmpty());
    assertTrue(c.user("Basic !!!").join().isEmpty());
    assertTrue(c.user("Basic " + Base64.getEncoder().encodeToString("no-colon".getBytes())).join().isEmpty());
    assertEquals(Optional.of("alice"), c.user(basic("alice", "pw")).join());
  }

  @Test
  void anEditedFileTakesEffectWithoutARestart() throws Exception {
    Path f = htpasswd(entry("alice", "pw"));
    Htpasswd h = new Htpasswd(f);
    assertTrue(h.verify("bob", "pw2").isEmpty());
    Files.writeString(f, entry("alice", "pw") + "\n" + entry("bob", "pw2") + "\n");
    Files.setLastModifiedTime(f, FileTime.from(Instant.now().plus(Duration.ofSeconds(5))));
    assertEquals(Optional.of("bob"), h.verify("bob", "pw2"));
  }
}
