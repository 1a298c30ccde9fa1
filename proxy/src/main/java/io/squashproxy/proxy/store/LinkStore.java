package io.squashproxy.proxy.store;

import io.squashproxy.core.digest.Digest;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Repository links ({@code upstream, repository, digest}: a digest served through that repository, see
 * {@code ContentLinks}) kept beyond the process, so that after a restart a by-digest request for content
 * already served through a repository needs no upstream confirmation.
 *
 * <ul>
 *   <li>On disk: {@code links/links.log}, one {@code upstream repository digest} line per link, appended as
 *       links are made. Read at start (a torn last line is skipped) and rewritten there, oldest dropped,
 *       when it holds more lines than {@code maxLinks} (a link made again after it was dropped from memory
 *       is appended again).
 *   <li>With a shared {@link ObjectStore}: an empty object {@code links/HASH} per link, so a link one
 *       replica made holds for all. Asked only where blocking is fine (the upstream confirmation it saves
 *       blocks too).
 * </ul>
 *
 * A lost link (dropped, or its line lost in a crash) costs one upstream request, never a wrong answer.
 */
public final class LinkStore {
  private static final Logger LOG = LoggerFactory.getLogger(LinkStore.class);
  /** What a line may hold: upstream names and repositories without white space, a digest. */
  private static final Pattern WORD = Pattern.compile("[^\\s]+");

  public record Link(String upstream, String repository, String digest) {}

  private final Path file;
  private final ObjectStore shared;
  private final long maxLinks;
  private long lines;

  /** @param shared null for a single instance */
  public LinkStore(Path root, ObjectStore shared, long maxLinks) throws IOException {
    Path dir = root.resolve("links");
    Files.createDirectories(dir);
    this.file = dir.resolve("links.log");
    this.shared = shared;
    this.maxLinks = maxLinks;
  }

  /** The links on disk, oldest first (at most {@code maxLinks}). */
  public synchronized List<Link> open() throws IOException {
    LinkedHashSet<Link> links = new LinkedHashSet<>();
    long read = 0;
    try {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        read++;
        String[] w = line.split(" ");
        if (w.length == 3 && Digest.isValid(w[2])) {
          Link l = new Link(w[0], w[1], w[2]);
          links.remove(l); // most recent last
          links.add(l);
        }
      }
    } catch (NoSuchFileException e) {
      return List.of();
    }
    List<Link> out = new ArrayList<>(links);
    if (out.size() > maxLinks) {
      out = new ArrayList<>(out.subList(out.size() - (int) maxLinks, out.size()));
    }
    if (read > out.size()) {
      rewrite(out);
    }
    lines = out.size();
    return out;
  }

  private void rewrite(List<Link> links) throws IOException {
    Path tmp = file.resolveSibling("links.log.tmp");
    try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      for (Link l : links) {
        w.write(line(l));
      }
    }
    AtomicFiles.moveInto(tmp, file);
  }

  /** Records new links (on disk, and in the shared store when there is one). */
  public void add(Collection<Link> links) throws IOException {
    List<Link> kept = links.stream().filter(LinkStore::storable).toList();
    if (kept.isEmpty()) {
      return;
    }
    StringBuilder text = new StringBuilder();
    kept.forEach(l -> text.append(line(l)));
    synchronized (this) {
      Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      lines += kept.size();
      if (lines > 2 * maxLinks) {
        rewrite(open());
      }
    }
    if (shared != null) {
      for (Link l : kept) {
        shared.put(sharedKey(l), new byte[0]);
      }
    }
  }

  /** Whether another replica (or this one before its disk was replaced) made the link. */
  public boolean sharedHas(Link link) {
    if (shared == null || !storable(link)) {
      return false;
    }
    try {
      return shared.exists(sharedKey(link));
    } catch (IOException e) {
      LOG.warn("cannot read link {} from {}: {}", link, shared.describe(), e.getMessage());
      return false;
    }
  }

  private static boolean storable(Link l) {
    return WORD.matcher(l.upstream()).matches() && WORD.matcher(l.repository()).matches()
        && WORD.matcher(l.digest()).matches();
  }

  private static String line(Link l) {
    return l.upstream() + " " + l.repository() + " " + l.digest() + "\n";
  }

  private static String sharedKey(Link l) {
    return "links/" + Digest.sha256((l.upstream() + "\n" + l.repository() + "\n" + l.digest())
        .getBytes(StandardCharsets.UTF_8)).hex();
  }
}
