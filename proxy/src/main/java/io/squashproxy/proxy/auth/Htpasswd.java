package io.squashproxy.proxy.auth;

import at.favre.lib.crypto.bcrypt.BCrypt;
import at.favre.lib.crypto.bcrypt.LongPasswordStrategies;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Apache htpasswd file with bcrypt entries ({@code htpasswd -B} writes {@code $2y$}; {@code $2a$} and
 * {@code $2b$} are accepted too), as Distribution reads it. Other hash kinds (MD5 {@code $apr1$}, SHA, crypt)
 * are refused: they are weak, and Distribution refuses them as well. The file is read again when it changes,
 * so users can be added without a restart. Verifying blocks for tens of milliseconds: keep it off event loops.
 */
public final class Htpasswd {
  private static final Logger LOG = LoggerFactory.getLogger(Htpasswd.class);
  /** Passwords past 72 bytes are cut there, as Apache's and Go's bcrypt do (the algorithm's limit). */
  private static final BCrypt.Verifyer VERIFIER = BCrypt.verifyer(BCrypt.Version.VERSION_2Y,
      LongPasswordStrategies.truncate(BCrypt.Version.VERSION_2Y));

  private final Path file;
  private volatile Snapshot snapshot;

  private record Snapshot(FileTime modified, long size, Map<String, byte[]> hashes) {}

  /** Reads the file now, so a missing or unreadable file stops the start, naming it. */
  public Htpasswd(Path file) throws IOException {
    this.file = file;
    this.snapshot = read();
  }

  /** The user, if {@code password} is theirs. */
  public Optional<String> verify(String user, String password) {
    Map<String, byte[]> hashes = current().hashes();
    byte[] hash = hashes.get(user);
    if (hash == null) {
      // Spend the time a known user costs (same cost factor), so response times do not tell which names exist.
      byte[] any = hashes.isEmpty() ? DUMMY : hashes.values().iterator().next();
      VERIFIER.verify(password.getBytes(StandardCharsets.UTF_8), any);
      return Optional.empty();
    }
    try {
      return VERIFIER.verify(password.getBytes(StandardCharsets.UTF_8), hash).verified
          ? Optional.of(user) : Optional.empty();
    } catch (IllegalArgumentException e) {
      LOG.warn("{}: the entry of user {} is not a valid bcrypt hash", file, user);
      return Optional.empty();
    }
  }

  public boolean hasUser(String user) {
    return current().hashes().containsKey(user);
  }

  /** For an empty file; cost 5 is what htpasswd -B uses by default. */
  private static final byte[] DUMMY = BCrypt.with(BCrypt.Version.VERSION_2Y)
      .hash(5, "not a password".getBytes(StandardCharsets.UTF_8));

  private Snapshot current() {
    Snapshot s = snapshot;
    try {
      if (!Files.getLastModifiedTime(file).equals(s.modified()) || Files.size(file) != s.size()) {
        s = read();
        snapshot = s;
        LOG.info("{}: reloaded, {} users", file, s.hashes().size());
      }
    } catch (IOException e) {
      LOG.warn("{}: cannot read ({}); keeping the {} users read before", file, e.getMessage(), s.hashes().size());
    }
    return s;
  }

  private Snapshot read() throws IOException {
    FileTime modified = Files.getLastModifiedTime(file);
    long size = Files.size(file);
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    Map<String, byte[]> hashes = new HashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int colon = line.indexOf(':');
      String hash = colon < 0 ? "" : line.substring(colon + 1);
      if (colon <= 0 || !(hash.startsWith("$2y$") || hash.startsWith("$2a$") || hash.startsWith("$2b$"))) {
        // Name the line, never its content: it holds a password hash.
        LOG.warn("{} line {}: not a bcrypt entry (user:$2y$...; write it with htpasswd -B); ignored", file, i + 1);
        continue;
      }
      hashes.put(line.substring(0, colon), hash.getBytes(StandardCharsets.US_ASCII));
    }
    return new Snapshot(modified, size, Map.copyOf(hashes));
  }

  public int users() {
    return snapshot.hashes().size();
  }
}
