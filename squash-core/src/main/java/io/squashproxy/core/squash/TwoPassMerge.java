package io.squashproxy.core.squash;

import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.squash.FsTree.Inode;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * The squash in two passes, for what the one pass ({@link OnePassMerge}) cannot do: a squash that keeps base
 * layers, and images with hard links across layers or a path twice in one layer. Pass 1 verifies and spools
 * every layer to merge (two at a time, in the background) and applies the headers of every layer to an {@link
 * FsTree} in layer order, a kept layer's from its {@link LayerIndex} (a base shared by many images is read once);
 * pass 2 writes the planned entries from the spools, in layer order, into one compressed tar. Heap use depends on
 * the number of paths, never on the size of the content.
 */
final class TwoPassMerge {
  private final List<Descriptor> layers;
  private final List<Digest> diffIds;
  private final BlobSource blobs;
  private final SquashListener listener;
  private final CompressionPool pool;
  private final LayerIndexStore indexes;
  private SquashOptions.PathLimit pathLimit = SquashOptions.PathLimit.NONE;
  /** Members applied to the tree so far, over all layers. */
  private long paths;

  TwoPassMerge(List<Descriptor> layers, List<Digest> diffIds, BlobSource blobs, SquashListener listener,
      CompressionPool pool, LayerIndexStore indexes) {
    this.layers = layers;
    this.diffIds = diffIds;
    this.blobs = blobs;
    this.listener = listener;
    this.pool = pool;
    this.indexes = indexes;
  }

  /**
   * The two-pass squash (layers kept, or an image the one pass cannot do): pass 1 verifies and spools every
   * layer and applies its headers to an {@link FsTree}; pass 2 writes the planned entries in layer order.
   */
  Squasher.Written write(int keep, SquashOptions options, Path layerFile, long[] tarSizes, List<LayerIndex> known)
      throws IOException {
    int total = layers.size();
    pathLimit = options.paths();
    LayerIndexer indexer = new LayerIndexer(blobs, indexes, pathLimit);
    Path tmp = Files.createTempDirectory(layerFile.getParent(), "squash-");
    // The layers to merge are decompressed and spooled a few at a time in the background (decompression is
    // the first pass's bottleneck, and layers are independent until their headers meet in the tree); their
    // headers are applied here, in layer order, from the spools.
    ExecutorService spoolers = SpoolThreads.start(Math.min(SpoolThreads.THREADS, total - keep));
    try {
      List<Future<Long>> spooling = new ArrayList<>(Collections.nCopies(total, null));
      for (int i = keep; i < total; i++) {
        int index = i;
        spooling.set(i, spoolers.submit(() -> spool(layers.get(index), diffIds.get(index), blobs,
            spoolPath(tmp, index), options.maxUncompressedBytes())));
      }
      FsTree tree = new FsTree(keep);
      long budget = options.maxUncompressedBytes();
      for (int i = 0; i < total; i++) {
        if (i < keep) {
          // A kept layer's headers only: from its index (a shared base is read once for all its images).
          LayerIndex index = known != null ? known.get(i)
              : indexer.index(i, layers.get(i), diffIds.get(i), budget);
          paths += index.members().size();
          pathLimit.check(paths, i, layers.get(i));
          WasteAnalysis.apply(tree, i, layers.get(i), index);
          tarSizes[i] = index.tarSize();
          if (tarSizes[i] > budget) {
            throw SquashException.unsupportedInLayer(i, layers.get(i).digest(), null, LimitedTee.overLimit(
                options.maxUncompressedBytes()), null);
          }
        } else {
          tarSizes[i] = indexSpooled(i, layers.get(i), diffIds.get(i), tree, spoolPath(tmp, i), budget,
              spooling.get(i));
        }
        budget -= tarSizes[i];
        listener.layerRead(i, total, layers.get(i), tarSizes[i]);
      }
      MergePlan plan = MergePlan.build(tree, keep);
      return writeLayer(plan, keep, tmp, options, layerFile);
    } finally {
      SpoolThreads.stop(spoolers);
      Squasher.deleteTree(tmp);
    }
  }

  private static Path spoolPath(Path tmp, int index) {
    return tmp.resolve("layer-" + index + ".tar");
  }

  /**
   * Background part of pass 1 for a layer to merge: verifies the blob and its diff_id while decompressing it into
   * {@code spool}. Stops past {@code limit} bytes (the whole image's budget; {@link #indexSpooled} enforces the
   * budget left for this layer). Returns the tar's size.
   */
  private static long spool(Descriptor layer, Digest diffId, BlobSource blobs, Path spool, long limit)
      throws IOException {
    // The spool exists even when opening the blob fails: indexSpooled reads it to place the failure.
    try (OutputStream out = Files.newOutputStream(spool);
        InputStream tar = Squasher.openVerified(layer, diffId, blobs)) {
      byte[] buf = new byte[1 << 16];
      long count = 0;
      for (int n; (n = tar.read(buf, 0, buf.length)) >= 0; ) {
        count += n;
        out.write(buf, 0, n);
        if (count > limit) {
          throw new LimitedTee.SizeLimitException(LimitedTee.overLimit(limit));
        }
        if (Thread.interrupted()) {
          throw new InterruptedIOException("squash abandoned");
        }
      }
      return count;
    }
  }

  /**
   * Foreground part of pass 1 for a layer to merge: applies the headers of its spool to the tree once the
   * background part is done. When that failed, the spool holds what came before the failure, and its last entry
   * is the one the error is reported in, as if the layer had been read in one go.
   */
  private long indexSpooled(int index, Descriptor layer, Digest diffId, FsTree tree, Path spool, long budget,
      Future<Long> spooled) throws IOException {
    Throwable failure = null;
    try {
      spooled.get();
    } catch (ExecutionException e) {
      failure = e.getCause();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while squashing");
    }
    if (failure != null && !Files.exists(spool)) {
      throw Squasher.layerFailure(index, layer, null, failure);
    }
    String current = null;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(spool), 1 << 16)) {
      LimitedTee tee = new LimitedTee(in, LimitedTee.NO_COPY, budget);
      TarReader reader = new TarReader(tee);
      int ordinal = 0;
      // Written in its stored form as it is read: the members of a large layer as objects were the peak of the heap.
      LayerIndex.Writer stored = new LayerIndex.Writer(layer.digest(), diffId);
      try {
        for (TarEntry e = reader.next(); e != null; e = reader.next(), ordinal++) {
          current = e.name();
          pathLimit.check(++paths, index, layer);
          Squasher.apply(tree, e, index, ordinal);
          stored.add(LayerIndex.Member.of(e));
        }
        current = null;
        tee.transferTo(OutputStream.nullOutputStream());
        if (failure == null) {
          // Verified by the spooler (blob digest, size, diff_id): a later image on this layer need not read it.
          indexes.putStored(layer.digest(), stored.finish(tee.count));
        }
      } catch (java.io.EOFException e) {
        if (failure == null) {
          throw e;
        }
        // the spool ends where the failure happened: report that, inside the current entry
      }
      if (failure != null) {
        throw failure;
      }
      return tee.count;
    } catch (Throwable e) {
      throw Squasher.layerFailure(index, layer, current, e);
    }
  }

  /**
   * Pass 2: stream the planned entries, in source order, into one compressed tar. With prioritised files
   * (eStargz), the whiteouts and the {@link PrioritizedEntries} come first, from a first read of the layers that
   * hold them, then the prefetch landmark, then the rest.
   */
  private Squasher.Written writeLayer(MergePlan plan, int keep, Path tmp, SquashOptions options,
      Path layerFile) throws IOException {
    boolean prioritize = !options.prioritized().isEmpty();
    try (SquashedLayerWriter writer = new SquashedLayerWriter(layerFile, options.compression(), pool, prioritize)) {
      TarWriter out = writer.tar();
      // Whiteouts first, as always: an applier that meets one after a new entry of its path would delete it.
      for (String name : plan.whiteouts) {
        out.putEntry(TarEntry.of(name, TarType.REGULAR, 0, 0));
      }
      Map<Inode, TarEntry> firstNames = new java.util.IdentityHashMap<>();
      Set<Long> early = prioritize ? PrioritizedEntries.positions(plan, options.prioritized()) : Set.of();
      if (prioritize) {
        Set<Integer> holding = new TreeSet<>();
        early.forEach(p -> holding.add(FsTree.layerOf(p)));
        for (int i : holding) {
          writeFrom(i, keep, tmp, plan, out, firstNames, early::contains);
        }
        writer.endPrioritized();
      }
      for (int i = 0; i < layers.size(); i++) {
        if (plan.needsLayer(i)) {
          writeFrom(i, keep, tmp, plan, out, firstNames, p -> !early.contains(p));
          listener.layerWritten(i, layers.size(), writer.compressedBytes());
        }
      }
      return writer.finish();
    }
  }

  /** Writes layer {@code index}'s planned entries whose positions {@code which} accepts. */
  private void writeFrom(int index, int keep, Path tmp, MergePlan plan, TarWriter out,
      Map<Inode, TarEntry> firstNames, java.util.function.LongPredicate which) throws IOException {
    try (InputStream in = openForPass2(index, layers.get(index), keep, tmp, blobs)) {
      TarReader reader = new TarReader(in);
      int ordinal = 0;
      for (TarEntry e = reader.next(); e != null; e = reader.next(), ordinal++) {
        long position = FsTree.position(index, ordinal);
        MergePlan.Emission emission = plan.byPosition.get(position);
        if (emission != null && which.test(position)) {
          emit(out, emission, e, reader, plan, firstNames);
        }
      }
    }
  }

  private static void emit(TarWriter out, MergePlan.Emission emission, TarEntry e, TarReader reader,
      MergePlan plan, Map<Inode, TarEntry> firstNames) throws IOException {
    if (emission instanceof MergePlan.Dir d) {
      out.putEntry(e.withName(d.path().isRoot() ? "./" : d.path() + "/"));
    } else if (emission instanceof MergePlan.Content c) {
      TarEntry header = e.withName(c.path().toString());
      if (header.isHardlink()) {
        throw new IllegalStateException("content source is a hard link: " + e);
      }
      out.putEntry(header);
      if (header.isRegular()) {
        out.copyContent(reader.content());
      }
      if (plan.linkTargets.contains(c.inode())) {
        firstNames.put(c.inode(), header); // a link to it follows; other headers are not kept
      }
    } else if (emission instanceof MergePlan.Link l) {
      TarEntry first = firstNames.get(l.inode());
      if (first == null) {
        throw new IllegalStateException("hard link " + l.path() + " precedes its target " + l.target());
      }
      out.putEntry(first.asHardlink(l.path().toString(), l.target().toString()));
    }
  }

  private static InputStream openForPass2(int index, Descriptor layer, int keep, Path tmp, BlobSource blobs)
      throws IOException {
    if (index >= keep) {
      return new BufferedInputStream(Files.newInputStream(tmp.resolve("layer-" + index + ".tar")), 1 << 16);
    }
    // A kept layer holds content that a hard link in the squashed layers needs (rare): read it again.
    return Compression.decompress(new VerifyingInputStream(blobs.open(layer.digest()), "layer " + index,
        layer.digest(), layer.size()));
  }
}
