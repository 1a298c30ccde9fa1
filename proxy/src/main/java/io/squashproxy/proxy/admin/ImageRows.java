package io.squashproxy.proxy.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageIndex;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.Storage;
import io.squashproxy.proxy.store.TagStore;
import io.squashproxy.proxy.store.TagStore.TagRecord;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * The status page's rows, named as a person pulls the images: a squash record knows only its source digest,
 * so the tags come from the tag store (source digest -> tags of that repository), and a platform of an
 * index from the index's own squash record, whose source document (kept in the store) lists each platform's
 * source digest with its {@code platform}. Built on the admin pool, never on an event loop: it reads the
 * indexes from the store.
 */
final class ImageRows {
  private final SquashRecords records;
  private final TagStore tags;
  private final Storage store;

  ImageRows(SquashRecords records, TagStore tags, Storage store) {
    this.records = records;
    this.tags = tags;
    this.store = store;
  }

  private record Where(String image, Digest digest) {}

  private record Platform(Digest index, String text) {}

  List<ImageRow> rows() {
    List<SquashRecord> all = records.all();
    Map<Where, TreeSet<String>> tagsOf = tagsByDigest();
    Map<Where, Platform> platforms = new HashMap<>();
    for (SquashRecord r : all) {
      if (r.layersBefore() == 0 && r.options().startsWith("index ")) {
        indexPlatforms(image(r), r.source(), platforms);
      }
    }
    List<ImageRow> rows = new ArrayList<>();
    for (SquashRecord r : all) {
      if (r.layersBefore() <= 0) {
        continue;
      }
      Where self = new Where(image(r), r.source());
      Platform p = tagsOf.containsKey(self) ? null : platforms.get(self);
      Digest pulledAs = p == null ? r.source() : p.index();
      List<String> names = List.copyOf(tagsOf.getOrDefault(new Where(self.image(), pulledAs), new TreeSet<>()));
      rows.add(new ImageRow(self.image(), names, p == null ? "" : p.text(), pulledAs, r.source(), r.manifest(),
          r.layersBefore(), r.layersAfter(), r.bytesBefore(), r.bytesAfter(), r.keptLayers(), r.wastedBytes()));
    }
    return rows;
  }

  private static String image(SquashRecord r) {
    return r.upstream() + "/" + r.repository();
  }

  /** Keys are {@code upstream/repository:tag} ({@link TagStore#key}); a tag never holds a colon. */
  private Map<Where, TreeSet<String>> tagsByDigest() {
    Map<Where, TreeSet<String>> out = new HashMap<>();
    for (Map.Entry<String, TagRecord> e : tags.all().entrySet()) {
      int colon = e.getKey().lastIndexOf(':');
      if (colon > 0) {
        out.computeIfAbsent(new Where(e.getKey().substring(0, colon), e.getValue().digest()), w -> new TreeSet<>())
            .add(e.getKey().substring(colon + 1));
      }
    }
    return out;
  }

  private void indexPlatforms(String image, Digest index, Map<Where, Platform> out) {
    try {
      Optional<io.squashproxy.proxy.store.ContentStore.StoredManifest> m = store.manifest(index);
      if (m.isEmpty()) {
        return;
      }
      for (Descriptor d : ImageIndex.parse(m.get().bytes()).manifests()) {
        JsonNode p = d.json().path("platform");
        if (p.isObject()) {
          out.putIfAbsent(new Where(image, d.digest()), new Platform(index, platformText(p)));
        }
      }
    } catch (IOException e) { // InvalidImageException too
      // The rows of its platforms are named by their own digests instead.
    }
  }

  static String platformText(JsonNode p) {
    String text = p.path("os").asText("") + "/" + p.path("architecture").asText("");
    String variant = p.path("variant").asText("");
    return variant.isEmpty() ? text : text + "/" + variant;
  }
}
