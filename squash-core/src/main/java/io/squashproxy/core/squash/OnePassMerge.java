package io.squashproxy.core.squash;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.layer.Whiteouts;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A full squash in one pass: the layers are read from the top down, and each entry is written to the squashed
 * layer as it streams by unless a layer above hides it. Nothing is spooled, and decompressing the input overlaps
 * compressing the output (on two cores that is the difference between about 1.25 and 1.2 x pigz).
 *
 * <p>What a layer above hides: its entries' own paths (whatever their type, whiteouts included), everything
 * below a path it whites out or makes a non-directory, and everything below an opaque directory. The output is
 * in that top-down order, so a directory's entry can follow entries below it; extractors create missing parents
 * and apply the directory's metadata when its entry comes, as they already do for a directory an upper layer
 * re-declares.
 *
 * <p>Top-down cannot see everything: a hard link must follow its target in the tar, so only a link to an entry
 * written earlier in the same layer is written at once. The headers of every layer are kept (names and types
 * only) and, at the end, applied bottom-up to the same {@link FsTree} and {@link MergePlan} as the two-pass
 * squash; what was written must be exactly that plan (every name from the same source entry, links grouped the
 * same way). Invalid layers fail there with the two-pass squash's error. Anything else the one pass could not
 * do (a link to another layer's file, a link whose target an upper layer deleted, a path twice in one layer)
 * throws {@link NotInOnePass}, and the caller squashes in two passes: slower, never different in content.
 */
final class OnePassMerge {

  /** The image needs the two-pass squash; says why. Depends only on the image, so every replica agrees. */
  static final class NotInOnePass extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotInOnePass(String reason) {
      super(reason, null, false, false);
    }
  }


  private final List<Descriptor> layers;
  private final List<Digest> diffIds;
  private final BlobSource blobs;
  private final SquashListener listener;
  private final SquashOptions.PathLimit pathLimit;
  /** Members read so far, over all layers: what the heap holds grows with it. */
  private long paths;

  /** Every member's path, and at the end what each holds after all layers. */
  private final FsTree tree = new FsTree(0);
  /** Paths an upper layer gave an entry or whited out. */
  private final PathSet defined = new PathSet();
  /** Paths below which an upper layer hides everything lower (whiteout, non-directory, opaque marker). */
  private final PathSet cleared = new PathSet();
  /**
   * Each layer's members, and for each written one its source: its entry's position, for a hard link the
   * position of its file's entry.
   */
  private final List<LayerHeaders> members;


  OnePassMerge(List<Descriptor> layers, List<Digest> diffIds, BlobSource blobs, SquashListener listener,
      SquashOptions.PathLimit pathLimit) {
    this.pathLimit = pathLimit;
    this.layers = layers;
    this.diffIds = diffIds;
    this.blobs = blobs;
    this.listener = listener;
    this.members = new ArrayList<>(Collections.nCopies(layers.size(), null));
  }

  /** Writes the squashed layer to {@code layerFile}; {@code tarSizes} receives each source tar's size. */
  Squasher.Written write(Compression compression, CompressionPool pool, Path layerFile, long budget,
      long[] tarSizes) throws IOException {
    int total = layers.size();
    Squasher.Written result;
    try (SquashedLayerWriter out = new SquashedLayerWriter(layerFile, compression, pool)) {
      for (int i = total - 1; i >= 0; i--) {
        tarSizes[i] = layer(i, out.tar(), budget);
        budget -= tarSizes[i];
        listener.layerRead(i, total, layers.get(i), tarSizes[i]);
        listener.layerWritten(i, total, out.compressedBytes());
      }
      result = out.finish();
    }
    check();
    return result;
  }

  /** Streams layer {@code index}, writing what no upper layer hides. Returns its tar's size. */
  private long layer(int index, TarWriter out, long budget) throws IOException {
    Descriptor layer = layers.get(index);
    LayerHeaders seen = new LayerHeaders(index);
    members.set(index, seen);
    // Paths written from this layer: a second one is a path twice in the layer (upper layers' paths are hidden).
    PathSet recorded = new PathSet();
    // This layer's effects on the layers below; they do not apply to its own entries.
    List<PathName> defines = new ArrayList<>();
    List<PathName> clears = new ArrayList<>();
    // What each path of this layer holds so far, for hard links to it later in the layer.
    LayerFiles files = new LayerFiles();
    String current = null;
    try (InputStream tar = Squasher.openVerified(layer, diffIds.get(index), blobs)) {
      LimitedTee tee = new LimitedTee(tar, OutputStream.nullOutputStream(), budget);
      TarReader reader = new TarReader(tee);
      int ordinal = 0;
      for (TarEntry e = reader.next(); e != null; e = reader.next(), ordinal++) {
        current = e.name();
        pathLimit.check(++paths, index, layer);
        String clean = Squasher.cleanEntryName(e.name()); // written as it is: not built again from the trie
        PathName path = tree.paths.intern(clean);
        seen.add(path, e.type(), e.linkName());
        String base = path.name;
        if (Whiteouts.isOpaque(base)) {
          clears.add(path.parent);
          continue;
        }
        if (Whiteouts.isMeta(base)) {
          continue;
        }
        if (Whiteouts.isWhiteout(base)) {
          PathName deleted = Squasher.whitedOut(tree.paths, path);
          defines.add(deleted);
          clears.add(deleted);
          continue;
        }
        long position = FsTree.position(index, ordinal);
        boolean visible = !hidden(path);
        defines.add(path);
        if (e.isDirectory()) {
          files.remove(path);
          if (visible) {
            out.putEntry(e.withName(path.isRoot() ? "./" : clean + "/"));
            record(recorded, seen, ordinal, path, position);
          }
          continue;
        }
        clears.add(path);
        if (e.type() == TarType.HARDLINK) {
          PathName linked = tree.paths.find(Squasher.cleanLinkTarget(e.linkName()));
          LayerFiles.File target = linked == null ? null : files.get(linked);
          if (visible) {
            if (target == null || target == LayerFiles.HIDDEN) {
              throw new NotInOnePass("hard link '" + path + "' in layer " + index + " to a file "
                  + (target == null ? "of a lower layer" : "an upper layer removed"));
            }
            out.putEntry(target.header().asHardlink(clean, target.name().toString()));
            record(recorded, seen, ordinal, path, target.position());
          }
          files.put(path, target == null ? LayerFiles.HIDDEN : target);
          continue;
        }
        if (!visible) {
          files.put(path, LayerFiles.HIDDEN);
          continue;
        }
        TarEntry header = e.withName(clean);
        out.putEntry(header);
        if (header.isRegular()) {
          out.copyContent(reader.content());
        }
        record(recorded, seen, ordinal, path, position);
        files.put(path, new LayerFiles.File(path, header, position));
      }
      current = null;
      tee.transferTo(OutputStream.nullOutputStream()); // trailing zero blocks also count for diff_id
      seen.trim();
      defines.forEach(defined::add);
      clears.forEach(cleared::add);
      return tee.count;
    } catch (NotInOnePass e) {
      throw e;
    } catch (Throwable e) {
      throw Squasher.layerFailure(index, layer, current, e);
    }
  }

  private void record(PathSet recorded, LayerHeaders layer, int ordinal, PathName path, long source) {
    if (!recorded.add(path)) {
      throw new NotInOnePass("'" + path + "' appears twice in one layer");
    }
    layer.written(ordinal, source);
  }

  private boolean hidden(PathName path) {
    if (defined.contains(path)) {
      return true;
    }
    for (PathName a = path.parent; a != null; a = a.parent) {
      if (cleared.contains(a)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Applies every layer's headers bottom-up, as the two-pass squash does (its errors for invalid layers), and
   * compares the result with what was written. The two-pass plan of a full squash ({@link MergePlan#build} with
   * nothing kept) writes every path of the tree from one source: a directory from its own entry, any other
   * name (the content or a hard link) from its inode's entry; so the tree is compared with that directly, and
   * no plan is built (it would be the peak of the heap).
   */
  private void check() throws IOException {
    // The upper layers' effects are done with: free them before the tree is built (the peak).
    defined.clear();
    cleared.clear();
    for (int i = 0; i < layers.size(); i++) {
      PathName current = null;
      try {
        LayerHeaders layerMembers = members.get(i);
        for (int ordinal = 0; ordinal < layerMembers.size(); ordinal++) {
          current = layerMembers.path(ordinal);
          Squasher.apply(tree, current, layerMembers.type(ordinal), layerMembers.linkName(ordinal), i, ordinal);
        }
      } catch (RuntimeException e) {
        throw Squasher.layerFailure(i, layers.get(i), current == null ? null : current.toString(), e);
      }
    }
    // What was written is a map from path to source (no path twice: refused as it happened); it must be the
    // tree's. Every written path is in the tree with its source, and as many as the tree has: then they are equal.
    long matched = 0;
    PathName extra = null;
    for (LayerHeaders layerMembers : members) {
      for (int ordinal = 0; ordinal < layerMembers.size(); ordinal++) {
        long wrote = layerMembers.source(ordinal);
        if (wrote == LayerHeaders.NOT_WRITTEN) {
          continue;
        }
        PathName path = layerMembers.path(ordinal);
        FsTree.Node node = path.node;
        if (node == null) {
          extra = extra != null ? extra : path;
        } else if (wrote != (node.dir() ? node.position() : node.inode().position())) {
          throw new NotInOnePass("'" + path + "' comes from another entry than in layer order");
        } else {
          matched++;
        }
      }
    }
    if (matched < tree.size()) {
      PathSet wrote = new PathSet();
      for (LayerHeaders layerMembers : members) {
        for (int ordinal = 0; ordinal < layerMembers.size(); ordinal++) {
          if (layerMembers.source(ordinal) != LayerHeaders.NOT_WRITTEN) {
            wrote.add(layerMembers.path(ordinal));
          }
        }
      }
      tree.forEach((path, node) -> {
        if (!wrote.contains(path)) {
          throw new NotInOnePass("'" + path + "' comes from another entry than in layer order");
        }
      });
    }
    if (extra != null) {
      throw new NotInOnePass("'" + extra + "' was written but does not survive in layer order");
    }
  }
}
