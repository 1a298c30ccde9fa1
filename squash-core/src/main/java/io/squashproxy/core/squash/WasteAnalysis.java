package io.squashproxy.core.squash;

import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layer.EntryPaths;
import io.squashproxy.core.layer.Whiteouts;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;

/**
 * Where an image wastes bytes: file content that a layer carries and that is not in the merged root file
 * system, because an upper layer deletes it, overwrites it, hides it under an opaque directory or changes the
 * path's type (or the same layer writes the path again). A file that a surviving hard link still names is not
 * wasted. This is the one place that decides what is wasted: the {@code auto} squash keeps layers by it,
 * {@code analyze} reports it, and {@link #outcome} predicts, with the squash's own plan, what each mode writes.
 *
 * <p>Works on {@link LayerIndex}es only (no content), applying them with the squash's rules ({@link
 * Squasher#apply}), so an invalid image fails here with the same error, naming layer and entry, as it would
 * in the squash.
 */
public final class WasteAnalysis {
  static final int LARGEST = 20;

  /**
   * One layer's figures.
   *
   * @param tarBytes uncompressed size (the tar)
   * @param contentBytes file content in the tar
   * @param filesAdded members that are not directories or whiteouts
   * @param wastedBytes of {@code contentBytes}, what the merged file system does not have
   * @param wastedBy upper layer index to the bytes of this layer it hides
   */
  public record LayerWaste(int index, Descriptor layer, long tarBytes, long contentBytes, int filesAdded,
      long wastedBytes, Map<Integer, Long> wastedBy) {}

  /** A file whose content is wasted: added in layer {@code addedIn}, hidden by layer {@code hiddenBy}. */
  public record WastedFile(String path, long size, int addedIn, int hiddenBy) {}

  /**
   * What squashing keeping the first {@code keptLayers} layers writes.
   *
   * @param contentBytes file content of the result's layers (kept ones as they are, then the squashed one)
   * @param tarBytesKept the kept layers' uncompressed sizes (exact); the squashed layer's is known once written
   */
  public record Outcome(int keptLayers, int layersAfter, long contentBytes, long tarBytesKept) {}

  private final List<Descriptor> layers;
  private final List<LayerIndex> indexes;
  private final List<LayerWaste> perLayer;
  private final List<WastedFile> largest;

  private WasteAnalysis(List<Descriptor> layers, List<LayerIndex> indexes, List<LayerWaste> perLayer,
      List<WastedFile> largest) {
    this.layers = layers;
    this.indexes = indexes;
    this.perLayer = perLayer;
    this.largest = largest;
  }

  /** @param indexes one per layer, in layer order */
  public static WasteAnalysis of(List<Descriptor> layers, List<LayerIndex> indexes) throws IOException {
    if (layers.size() != indexes.size()) {
      throw new IllegalArgumentException(layers.size() + " layers but " + indexes.size() + " indexes");
    }
    Map<Long, Integer> hiddenBy = new HashMap<>();
    FsTree tree = new FsTree(0);
    tree.onHidden((node, by) -> hiddenBy.put(node.inode().position(), by));
    replay(tree, layers, indexes, layers.size());
    Set<Long> live = new HashSet<>();
    tree.forEach((path, n) -> {
      if (!n.dir()) {
        live.add(n.inode().position());
      }
    });
    List<LayerWaste> perLayer = new ArrayList<>();
    PriorityQueue<WastedFile> top = new PriorityQueue<>(Comparator.comparingLong(WastedFile::size));
    for (int i = 0; i < layers.size(); i++) {
      LayerIndex idx = indexes.get(i);
      long content = 0;
      long wasted = 0;
      int files = 0;
      Map<Integer, Long> by = new TreeMap<>();
      for (int ordinal = 0; ordinal < idx.members().size(); ordinal++) {
        LayerIndex.Member m = idx.members().get(ordinal);
        String path = Squasher.cleanEntryName(m.name());
        if (isMarker(path) || m.type() == io.squashproxy.core.tar.TarType.DIRECTORY) {
          continue;
        }
        files++;
        content += m.contentBytes();
        long pos = FsTree.position(i, ordinal);
        if (m.contentBytes() > 0 && !live.contains(pos)) {
          int hider = hiddenBy.getOrDefault(pos, i);
          wasted += m.contentBytes();
          by.merge(hider, m.contentBytes(), Long::sum);
          top.add(new WastedFile(path, m.contentBytes(), i, hider));
          if (top.size() > LARGEST) {
            top.poll();
          }
        }
      }
      perLayer.add(new LayerWaste(i, layers.get(i), idx.tarSize(), content, files, wasted,
          Collections.unmodifiableMap(by)));
    }
    List<WastedFile> largest = new ArrayList<>(top);
    largest.sort(Comparator.comparingLong(WastedFile::size).reversed().thenComparing(WastedFile::path));
    return new WasteAnalysis(List.copyOf(layers), List.copyOf(indexes), List.copyOf(perLayer),
        List.copyOf(largest));
  }

  private static boolean isMarker(String path) {
    String base = EntryPaths.baseName(path);
    return Whiteouts.isWhiteout(base) || Whiteouts.isOpaque(base) || Whiteouts.isMeta(base);
  }

  /** Applies the first {@code upTo} layers' indexes to {@code tree}. */
  static void replay(FsTree tree, List<Descriptor> layers, List<LayerIndex> indexes, int upTo) throws IOException {
    for (int i = 0; i < upTo; i++) {
      apply(tree, i, layers.get(i), indexes.get(i));
    }
  }

  /** Applies one layer's index as reading its tar would; errors name the layer and entry. */
  static void apply(FsTree tree, int i, Descriptor layer, LayerIndex index) throws IOException {
    String current = null;
    try {
      List<LayerIndex.Member> members = index.members();
      for (int ordinal = 0; ordinal < members.size(); ordinal++) {
        LayerIndex.Member m = members.get(ordinal);
        current = m.name();
        Squasher.apply(tree, m.asEntry(), i, ordinal);
      }
    } catch (RuntimeException e) {
      throw Squasher.layerFailure(i, layer, current, e);
    }
  }

  public List<LayerWaste> layers() {
    return perLayer;
  }

  /** The largest wasted files, largest first (at most {@value #LARGEST}). */
  public List<WastedFile> largestWasted() {
    return largest;
  }

  public long wastedBytes() {
    return perLayer.stream().mapToLong(LayerWaste::wastedBytes).sum();
  }

  public long contentBytes() {
    return perLayer.stream().mapToLong(LayerWaste::contentBytes).sum();
  }

  public long tarBytes() {
    return perLayer.stream().mapToLong(LayerWaste::tarBytes).sum();
  }

  /**
   * How many leading layers {@code mode: auto} keeps: those below the first layer that wastes more than the
   * slack allows. All of them when no layer does, or when only the top layer would be left to squash (one
   * layer merged with nothing is the same layer): then the image is served as it is.
   */
  public int autoKeep(WasteSlack slack) {
    for (LayerWaste l : perLayer) {
      if (l.wastedBytes() > slack.allowance(l.tarBytes())) {
        return l.index() >= perLayer.size() - 1 ? perLayer.size() : l.index();
      }
    }
    return perLayer.size();
  }

  /**
   * What a squash keeping the first {@code keep} layers writes, from the squash's own plan: each surviving
   * file once, plus any kept file a hard link in the squashed layers needs written again. {@code keep} at or
   * above the last layer means the image as it is.
   */
  public Outcome outcome(int keep) throws IOException {
    int total = layers.size();
    if (keep >= total - 1) {
      return new Outcome(total, total, contentBytes(), tarBytes());
    }
    FsTree tree = new FsTree(keep);
    replay(tree, layers, indexes, total);
    MergePlan plan = MergePlan.build(tree, keep);
    long content = 0;
    long tarKept = 0;
    for (int i = 0; i < keep; i++) {
      content += perLayer.get(i).contentBytes();
      tarKept += perLayer.get(i).tarBytes();
    }
    long[] written = {content};
    plan.byPosition.forEachValue(e -> {
      if (e instanceof MergePlan.Content c) {
        written[0] += indexes.get(c.inode().layer).members().get(c.inode().ordinal).contentBytes();
      }
    });
    return new Outcome(keep, keep + 1, written[0], tarKept);
  }
}
