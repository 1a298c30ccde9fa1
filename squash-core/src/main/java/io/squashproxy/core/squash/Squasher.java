package io.squashproxy.core.squash;

import io.squashproxy.core.io.SingleByte;
import io.squashproxy.core.blob.BlobSource;
import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.digest.DigestMismatchException;
import io.squashproxy.core.digest.VerifyingInputStream;
import io.squashproxy.core.image.Descriptor;
import io.squashproxy.core.image.ImageConfig;
import io.squashproxy.core.image.ImageManifest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.MediaTypes;
import io.squashproxy.core.layer.Compression;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.layer.EntryPaths;
import io.squashproxy.core.layer.Whiteouts;
import io.squashproxy.core.squash.FsTree.Inode;
import io.squashproxy.core.squash.FsTree.Node;
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarReader;
import io.squashproxy.core.tar.TarType;
import io.squashproxy.core.tar.TarWriter;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Merges an image's layers into one (or keeps the first N and merges the rest).
 *
 * <p>Two passes. The first streams every layer once, verifying its blob digest, size and diff_id, spooling
 * the uncompressed tar of each layer to be merged into the work directory, and applying its headers to an
 * in-memory {@link FsTree} (metadata only). The second streams the spooled tars in order and writes the
 * entries that survive into one compressed tar. Heap use depends on the number of paths, never on the
 * size of the content.
 *
 * <p>Threads: in the first pass the layers to merge are decompressed, verified and spooled two at a time on
 * background threads (each blob read, hashed and decompressed on a read-ahead thread), while this thread
 * applies their headers from the spools in layer order; in the second, gzip blocks are compressed on a {@link
 * CompressionPool} (zstd on zstd's own 2 workers). The bytes written never depend on threads or timing. The
 * {@link BlobSource} must allow several blobs to be read at once.
 */
public final class Squasher {
  private static final int MAX_CONFIG_BYTES = 16 << 20;

  /**
   * The version of the squashed layers this class writes: the same image, options and version give the same
   * digests. It changes whenever the bytes do (the compressor's {@link Compression#OUTPUT_FORMAT_VERSION}, tar
   * layout), so stored squash results can be told apart from what this version would produce. 2: parallel
   * gzip; 3: full squashes written top-down in one pass ({@link OnePassMerge}).
   */
  public static final int OUTPUT_FORMAT_VERSION = 3;

  private static final int READ_AHEAD_BUFFER = 1 << 16;
  private static final int READ_AHEAD_DEPTH = 16;

  private final SquashListener listener;
  private final CompressionPool pool;
  private final LayerIndexStore indexes;

  public Squasher() {
    this(SquashListener.NONE);
  }

  public Squasher(SquashListener listener) {
    this(listener, CompressionPool.shared());
  }

  /** {@code pool} compresses gzip output; share one among concurrent squashes (the output does not depend on it). */
  public Squasher(SquashListener listener, CompressionPool pool) {
    this(listener, pool, LayerIndexStore.NONE);
  }

  /**
   * @param indexes where layer indexes are kept between squashes: a layer indexed before (a shared base) is
   *     neither read to decide what {@code auto} keeps nor read again when it is kept
   */
  public Squasher(SquashListener listener, CompressionPool pool, LayerIndexStore indexes) {
    this.listener = listener;
    this.pool = pool;
    this.indexes = indexes;
  }

  /**
   * Where the image wastes bytes, from its layer indexes (each layer read and verified once, unless the store
   * has its index already). Nothing is written.
   *
   * @throws SquashException for broken layers, naming layer and entry
   */
  public WasteAnalysis analyze(byte[] manifestBytes, BlobSource blobs, long maxUncompressedBytes)
      throws IOException {
    ImageManifest manifest = ImageManifest.parse(manifestBytes);
    ImageConfig config = ImageConfig.parse(readConfig(blobs, manifest.config()));
    checkDiffIds(manifest.layers(), config);
    checkSquashable(manifest.layers(), 0);
    return WasteAnalysis.of(manifest.layers(), indexAll(manifest.layers(), config.diffIds(), blobs,
        maxUncompressedBytes));
  }

  /**
   * Squashes the image that {@code manifestBytes} describes.
   *
   * @param workDir where temporary files and the new layer blob go; the temporaries are removed on success
   *     and on failure, the layer blob on failure
   * @throws InvalidImageException for broken documents ({@link io.squashproxy.core.image.NotAnImageException}
   *     for documents that are not single container images)
   * @throws SquashException for broken layers, naming layer and entry
   */
  public SquashResult squash(byte[] manifestBytes, BlobSource blobs, SquashOptions options, Path workDir)
      throws IOException {
    long started = System.nanoTime();
    ImageManifest manifest = ImageManifest.parse(manifestBytes);
    Digest manifestDigest = Digest.sha256(manifestBytes);
    byte[] configBytes = readConfig(blobs, manifest.config());
    ImageConfig config = ImageConfig.parse(configBytes);
    List<Descriptor> layers = manifest.layers();
    checkDiffIds(layers, config);
    int total = layers.size();
    int keep;
    List<LayerIndex> known = null;
    long wasted = -1;
    if (options.isAuto()) {
      if (total <= 1) {
        return unchanged(manifest, manifestBytes, manifestDigest, configBytes, started, -1);
      }
      // Every layer is read (or its index found) to decide: the image is verified even when it stays as it is.
      checkSquashable(layers, 0);
      known = indexAll(layers, config.diffIds(), blobs, options.maxUncompressedBytes());
      WasteAnalysis analysis = WasteAnalysis.of(layers, known);
      keep = analysis.autoKeep(options.auto());
      wasted = analysis.wastedBytes();
    } else {
      keep = Math.min(options.keepLayers(), total);
    }
    if (total - keep <= 1) {
      return unchanged(manifest, manifestBytes, manifestDigest, configBytes, started, wasted);
    }
    checkSquashable(layers, keep);
    Files.createDirectories(workDir);
    Path layerFile = Files.createTempFile(workDir, "squashed-", ".blob");
    boolean ok = false;
    try {
      long[] tarSizes = new long[total];
      Written written = null;
      String method;
      if (keep == 0) {
        try {
          written = new OnePassMerge(layers, config.diffIds(), blobs, listener).write(options.compression(), pool,
              layerFile, options.maxUncompressedBytes(), tarSizes);
          method = SquashReport.ONE_PASS;
        } catch (OnePassMerge.NotInOnePass e) {
          method = "two passes: " + e.getMessage();
        }
      } else {
        method = "two passes: layers kept";
      }
      if (written == null) {
        written = twoPasses(layers, config, keep, blobs, options, layerFile, tarSizes, known);
      }

      Descriptor squashedLayer = Descriptor.of(
          manifest.family().layerMediaType(options.compression().algorithm()), written.digest, written.size);
      String createdBy = "squash-proxy: squashed layers " + (keep + 1) + "-" + total + " of " + manifestDigest;
      byte[] newConfig = config.squashed(keep, written.diffId, createdBy, options.describe());
      Digest configDigest = Digest.sha256(newConfig);
      Descriptor configDesc = withDigest(manifest.config(), configDigest, newConfig.length);
      List<Descriptor> newLayers = new ArrayList<>(layers.subList(0, keep));
      newLayers.add(squashedLayer);
      byte[] newManifest = manifest.rewrite(configDesc, newLayers);

      long keptCompressed = layers.subList(0, keep).stream().mapToLong(Descriptor::size).sum();
      long keptTar = 0;
      long allTar = 0;
      for (int i = 0; i < total; i++) {
        allTar += tarSizes[i];
        keptTar += i < keep ? tarSizes[i] : 0;
      }
      SquashReport report = new SquashReport(total, keep + 1, manifest.totalLayerSize(),
          keptCompressed + written.size, allTar, keptTar + written.tarSize,
          Duration.ofNanos(System.nanoTime() - started), method, wasted);
      ok = true;
      return new SquashResult(true, newManifest, Digest.sha256(newManifest),
          manifest.family().manifestMediaType(), newConfig, configDigest, newLayers, squashedLayer, layerFile,
          written.diffId, report);
    } finally {
      if (!ok) {
        Files.deleteIfExists(layerFile);
      }
    }
  }

  /**
   * The two-pass squash (layers kept, or an image the one pass cannot do): pass 1 verifies and spools every
   * layer and applies its headers to an {@link FsTree}; pass 2 writes the planned entries in layer order.
   */
  private Written twoPasses(List<Descriptor> layers, ImageConfig config, int keep, BlobSource blobs,
      SquashOptions options, Path layerFile, long[] tarSizes, List<LayerIndex> known) throws IOException {
    int total = layers.size();
    LayerIndexer indexer = new LayerIndexer(blobs, indexes);
    Path tmp = Files.createTempDirectory(layerFile.getParent(), "squash-");
    // The layers to merge are decompressed and spooled a few at a time in the background (decompression is
    // the first pass's bottleneck, and layers are independent until their headers meet in the tree); their
    // headers are applied here, in layer order, from the spools.
    ExecutorService spoolers = newSpoolers(Math.min(SPOOL_THREADS, total - keep));
    try {
      List<Future<Long>> spooling = new ArrayList<>(Collections.nCopies(total, null));
      for (int i = keep; i < total; i++) {
        int index = i;
        spooling.set(i, spoolers.submit(() -> spool(layers.get(index), config.diffIds().get(index), blobs,
            spoolPath(tmp, index), options.maxUncompressedBytes())));
      }
      FsTree tree = new FsTree(keep);
      NavigableMap<String, Node> lower = Collections.emptyNavigableMap();
      long budget = options.maxUncompressedBytes();
      for (int i = 0; i < total; i++) {
        if (i == keep && keep > 0) {
          lower = new TreeMap<>(tree.nodes);
        }
        if (i < keep) {
          // A kept layer's headers only: from its index (a shared base is read once for all its images).
          LayerIndex index = known != null ? known.get(i)
              : indexer.index(i, layers.get(i), config.diffIds().get(i), budget);
          WasteAnalysis.apply(tree, i, layers.get(i), index);
          tarSizes[i] = index.tarSize();
          if (tarSizes[i] > budget) {
            throw SquashException.unsupportedInLayer(i, layers.get(i).digest(), null, overLimit(
                options.maxUncompressedBytes()), null);
          }
        } else {
          tarSizes[i] = indexSpooled(i, layers.get(i), config.diffIds().get(i), tree, spoolPath(tmp, i), budget,
              spooling.get(i));
        }
        budget -= tarSizes[i];
        listener.layerRead(i, total, layers.get(i), tarSizes[i]);
      }
      MergePlan plan = MergePlan.build(tree, lower, keep);
      return writeLayer(plan, layers, keep, tmp, blobs, options.compression(), layerFile);
    } finally {
      stop(spoolers);
      deleteTree(tmp);
    }
  }

  private static void checkDiffIds(List<Descriptor> layers, ImageConfig config) throws InvalidImageException {
    if (config.diffIds().size() != layers.size()) {
      throw new InvalidImageException("manifest has " + layers.size() + " layers but config has "
          + config.diffIds().size() + " diff_ids");
    }
  }

  private static void checkSquashable(List<Descriptor> layers, int from) throws SquashException {
    for (int i = from; i < layers.size(); i++) {
      String mt = layers.get(i).mediaType();
      if (!MediaTypes.isSquashableLayer(mt)) {
        throw SquashException.unsupportedInLayer(i, layers.get(i).digest(), null,
            "media type " + mt + " cannot be squashed", null);
      }
    }
  }

  /**
   * Every layer's index, from the store or read (two layers at a time: inflating is the cost, and layers are
   * independent until they meet in the tree). The image's uncompressed budget holds for the sum.
   */
  private List<LayerIndex> indexAll(List<Descriptor> layers, List<Digest> diffIds, BlobSource blobs, long budget)
      throws IOException {
    LayerIndexer indexer = new LayerIndexer(blobs, indexes);
    int total = layers.size();
    List<Future<LayerIndex>> reading = new ArrayList<>(Collections.nCopies(total, null));
    LayerIndex[] found = new LayerIndex[total];
    ExecutorService readers = null;
    try {
      for (int i = 0; i < total; i++) {
        found[i] = indexer.stored(layers.get(i), diffIds.get(i)).orElse(null);
        if (found[i] == null) {
          if (readers == null) {
            readers = newSpoolers(SPOOL_THREADS);
          }
          int index = i;
          reading.set(i, readers.submit(() -> indexer.index(index, layers.get(index), diffIds.get(index), budget)));
        }
      }
      long sum = 0;
      for (int i = 0; i < total; i++) {
        if (found[i] == null) {
          found[i] = await(reading.get(i));
        }
        sum += found[i].tarSize();
        if (sum > budget) {
          throw SquashException.unsupportedInLayer(i, layers.get(i).digest(), null, overLimit(budget), null);
        }
        listener.layerRead(i, total, layers.get(i), found[i].tarSize());
      }
      return List.of(found);
    } finally {
      if (readers != null) {
        stop(readers);
      }
    }
  }

  private static LayerIndex await(Future<LayerIndex> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while squashing");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(e.getCause());
    }
  }

  private static String overLimit(long budget) {
    return "image unpacks to more than the limit of " + SquashReport.bytes(budget)
        + " uncompressed (a decompression bomb?)";
  }

  private SquashResult unchanged(ImageManifest manifest, byte[] manifestBytes, Digest manifestDigest,
      byte[] configBytes, long started, long wasted) {
    long size = manifest.totalLayerSize();
    SquashReport report = new SquashReport(manifest.layers().size(), manifest.layers().size(), size, size, -1,
        -1, Duration.ofNanos(System.nanoTime() - started), wasted >= 0 ? "unchanged: nothing wasted beyond the slack"
        : "unchanged", wasted);
    return new SquashResult(false, manifestBytes, manifestDigest, manifest.family().manifestMediaType(),
        configBytes, manifest.config().digest(), manifest.layers(), null, null, null, report);
  }

  private static Descriptor withDigest(Descriptor source, Digest digest, long size) {
    var json = source.json().deepCopy();
    json.put("digest", digest.toString());
    json.put("size", size);
    return new Descriptor(source.mediaType(), digest, size, json);
  }

  private static byte[] readConfig(BlobSource blobs, Descriptor config) throws IOException {
    if (config.size() > MAX_CONFIG_BYTES) {
      throw new InvalidImageException("image config of " + config.size() + " bytes is larger than "
          + MAX_CONFIG_BYTES);
    }
    try (InputStream in = new VerifyingInputStream(blobs.open(config.digest()), "image config "
        + config.digest(), config.digest(), config.size())) {
      byte[] bytes = in.readAllBytes();
      return bytes;
    } catch (DigestMismatchException e) {
      throw new InvalidImageException(e.getMessage(), e);
    }
  }

  private static final int SPOOL_THREADS = 2;
  private static final AtomicInteger SPOOLER_IDS = new AtomicInteger();

  private static ExecutorService newSpoolers(int threads) {
    return Executors.newFixedThreadPool(Math.max(1, threads), r -> {
      Thread t = new Thread(r, "squash-spool-" + SPOOLER_IDS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** Stops the spooling threads (on failure, mid-layer) and waits for them, so that no file is still open. */
  private static void stop(ExecutorService spoolers) {
    spoolers.shutdownNow();
    try {
      spoolers.awaitTermination(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
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
        InputStream tar = openVerified(layer, diffId, blobs)) {
      byte[] buf = new byte[1 << 16];
      long count = 0;
      for (int n; (n = tar.read(buf, 0, buf.length)) >= 0; ) {
        count += n;
        out.write(buf, 0, n);
        if (count > limit) {
          throw new SizeLimitException("image unpacks to more than the limit of " + SquashReport.bytes(limit)
              + " uncompressed (a decompression bomb?)");
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
      throw layerFailure(index, layer, null, failure);
    }
    String current = null;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(spool), 1 << 16)) {
      LimitedTee tee = new LimitedTee(in, LimitedTee.NO_COPY, budget);
      TarReader reader = new TarReader(tee);
      int ordinal = 0;
      List<LayerIndex.Member> members = new ArrayList<>();
      try {
        for (TarEntry e = reader.next(); e != null; e = reader.next(), ordinal++) {
          current = e.name();
          apply(tree, e, index, ordinal);
          members.add(LayerIndex.Member.of(e));
        }
        current = null;
        tee.transferTo(OutputStream.nullOutputStream());
        if (failure == null) {
          // Verified by the spooler (blob digest, size, diff_id): a later image on this layer need not read it.
          indexes.put(new LayerIndex(layer.digest(), diffId, tee.count, members));
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
      throw layerFailure(index, layer, current, e);
    }
  }

  static RuntimeException layerFailure(int index, Descriptor layer, String current, Throwable e)
      throws IOException {
    if (e instanceof SquashException se) {
      throw se;
    }
    if (e instanceof DigestMismatchException dm) {
      throw SquashException.inLayer(index, layer.digest(), current, "digest mismatch: " + dm.getMessage()
          + (current == null ? "" : " (the content ends inside this entry: truncated?)"), dm);
    }
    if (e instanceof IllegalArgumentException ia) {
      throw SquashException.inLayer(index, layer.digest(), current, ia.getMessage(), ia);
    }
    if (e instanceof InterruptedIOException io) {
      throw io;
    }
    if (e instanceof SizeLimitException || e instanceof io.squashproxy.core.tar.UnsupportedTarException) {
      // A valid layer beyond what the squash does: not "corrupt", and callers may serve it unsquashed.
      throw SquashException.unsupportedInLayer(index, layer.digest(), current, e.getMessage(), e);
    }
    if (e instanceof IOException io) {
      String problem = io.getMessage() != null ? io.getMessage()
          : io instanceof java.io.EOFException ? "the data ends early" : io.getClass().getSimpleName();
      throw SquashException.inLayer(index, layer.digest(), current,
          "unreadable layer (truncated or corrupt?): " + problem, io);
    }
    if (e instanceof RuntimeException re) {
      throw re;
    }
    if (e instanceof Error err) {
      throw err;
    }
    throw new IOException(e);
  }

  /**
   * A layer's uncompressed tar, checked against its blob digest and size and its diff_id as it is read (the
   * end of the stream throws if either differs). Reading, hashing and decompressing the blob run on a read-ahead
   * thread; the diff_id is hashed on the reading thread.
   */
  static InputStream openVerified(Descriptor layer, Digest diffId, BlobSource blobs) throws IOException {
    InputStream raw = blobs.open(layer.digest());
    try {
      VerifyingInputStream blob = new VerifyingInputStream(raw, "blob", layer.digest(), layer.size());
      return new VerifyingInputStream(new ReadAheadInputStream(new DrainingAtEnd(Compression.decompress(blob),
          blob), READ_AHEAD_BUFFER, READ_AHEAD_DEPTH), "uncompressed content", diffId, -1);
    } catch (IOException | RuntimeException e) {
      raw.close();
      throw e;
    }
  }

  static void apply(FsTree tree, TarEntry e, int layer, int ordinal) {
    String path = cleanEntryName(e.name());
    String base = EntryPaths.baseName(path);
    String parent = EntryPaths.parent(path);
    if (Whiteouts.isOpaque(base)) {
      tree.opaque(parent, layer);
    } else if (Whiteouts.isMeta(base)) {
      // AUFS bookkeeping: no file-system meaning
    } else if (Whiteouts.isWhiteout(base)) {
      tree.whiteout(whitedOut(parent, base), layer);
    } else if (path.isEmpty() && !e.isDirectory()) {
      throw new IllegalArgumentException("the root must be a directory");
    } else {
      tree.add(path, e, layer, ordinal);
    }
  }

  /** The path a whiteout named {@code base} in {@code parent} deletes; {@code .} and {@code ..} are refused. */
  static String whitedOut(String parent, String base) {
    String deleted = Whiteouts.deletedName(base);
    if (deleted.equals(".") || deleted.equals("..")) {
      throw new IllegalArgumentException("whiteout of '" + deleted + "' is not allowed");
    }
    return EntryPaths.child(parent, deleted);
  }

  /** A member's name made relative and normalised; unsafe names are refused with what is wrong. */
  static String cleanEntryName(String name) {
    try {
      return EntryPaths.clean(name);
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException("unsafe entry name: " + ex.getMessage());
    }
  }

  /** A hard link's target made relative and normalised, refused as {@link FsTree} refuses it. */
  static String cleanLinkTarget(String linkName) {
    try {
      return EntryPaths.clean(linkName);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("hard link target '" + linkName + "': " + e.getMessage());
    }
  }

  record Written(Digest digest, long size, Digest diffId, long tarSize) {}

  /** Pass 2: stream the planned entries, in source order, into one compressed tar. */
  private Written writeLayer(MergePlan plan, List<Descriptor> layers, int keep, Path tmp, BlobSource blobs,
      Compression compression, Path layerFile) throws IOException {
    try (SquashedLayerWriter writer = new SquashedLayerWriter(layerFile, compression, pool)) {
      TarWriter out = writer.tar();
      for (String name : plan.whiteouts) {
        out.putEntry(TarEntry.of(name, TarType.REGULAR, 0, 0));
      }
      Map<Inode, TarEntry> firstNames = new HashMap<>();
      for (int i = 0; i < layers.size(); i++) {
        if (!plan.needsLayer(i)) {
          continue;
        }
        try (InputStream in = openForPass2(i, layers.get(i), keep, tmp, blobs)) {
          TarReader reader = new TarReader(in);
          int ordinal = 0;
          for (TarEntry e = reader.next(); e != null; e = reader.next(), ordinal++) {
            MergePlan.Emission emission = plan.byPosition.get(FsTree.position(i, ordinal));
            if (emission != null) {
              emit(out, emission, e, reader, firstNames);
            }
          }
        }
        listener.layerWritten(i, layers.size(), writer.compressedBytes());
      }
      return writer.finish();
    }
  }

  private static void emit(TarWriter out, MergePlan.Emission emission, TarEntry e, TarReader reader,
      Map<Inode, TarEntry> firstNames) throws IOException {
    if (emission instanceof MergePlan.Dir d) {
      out.putEntry(e.withName(d.path().isEmpty() ? "./" : d.path() + "/"));
    } else if (emission instanceof MergePlan.Content c) {
      TarEntry header = e.withName(c.path());
      if (header.isHardlink()) {
        throw new IllegalStateException("content source is a hard link: " + e);
      }
      out.putEntry(header);
      if (header.isRegular()) {
        out.copyContent(reader.content());
      }
      firstNames.put(c.inode(), header);
    } else if (emission instanceof MergePlan.Link l) {
      TarEntry first = firstNames.get(l.inode());
      if (first == null) {
        throw new IllegalStateException("hard link " + l.path() + " precedes its target " + l.target());
      }
      out.putEntry(first.asHardlink(l.path(), l.target()));
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

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      List<Path> paths = walk.sorted(Collections.reverseOrder()).toList();
      for (Path p : paths) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** The uncompressed budget ({@link SquashOptions#maxUncompressedBytes()}) is spent. */
  private static final class SizeLimitException extends IOException {
    private static final long serialVersionUID = 1L;

    SizeLimitException(String message) {
      super(message);
    }
  }

  /**
   * Ends with the end of the decompressed content only once the rest of the blob (trailing bytes after the
   * compressed stream) has been read and its digest verified, so the read-ahead thread does all blob reads.
   */
  private static final class DrainingAtEnd extends FilterInputStream {
    private final VerifyingInputStream blob;

    DrainingAtEnd(InputStream decompressed, VerifyingInputStream blob) {
      super(decompressed);
      this.blob = blob;
    }

    @Override
    public int read() throws IOException {
      return SingleByte.read(this);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n < 0) {
        blob.drainAndVerify();
      }
      return n;
    }
  }

  /** Copies what is read into the spool, counting, and refuses to go past the uncompressed budget. */
  static final class LimitedTee extends FilterInputStream {
    static final OutputStream NO_COPY = OutputStream.nullOutputStream();

    private final OutputStream copy;
    private final long budget;
    private byte[] skipBuffer;
    long count;

    LimitedTee(InputStream in, OutputStream copy, long budget) {
      super(in);
      this.copy = copy;
      this.budget = budget;
    }

    @Override
    public int read() throws IOException {
      return SingleByte.read(this);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n > 0) {
        count += n;
        if (count > budget) {
          throw new SizeLimitException("image unpacks to more than the limit of " + SquashReport.bytes(
              budget) + " uncompressed (a decompression bomb?)");
        }
        copy.write(b, off, n);
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      if (copy == NO_COPY) {
        // Counting only (reading a spool again): seek over the content.
        long room = budget - count;
        long skipped = in.skip(room < n ? room + 1 : n);
        if (skipped > 0) {
          count += skipped;
          if (count > budget) {
            throw new SizeLimitException("image unpacks to more than the limit of " + SquashReport.bytes(
                budget) + " uncompressed (a decompression bomb?)");
          }
        }
        return skipped;
      }
      // Skipping must still spool and hash every byte.
      if (skipBuffer == null) {
        skipBuffer = new byte[65536];
      }
      int r = read(skipBuffer, 0, (int) Math.min(n, skipBuffer.length));
      return Math.max(r, 0);
    }
  }
}
