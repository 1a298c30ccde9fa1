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
import io.squashproxy.core.tar.TarEntry;
import io.squashproxy.core.tar.TarType;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Squashes an image: merges its layers into one, keeps the first N and merges the rest, or ({@code auto}) keeps
 * every leading layer that wastes nothing beyond a slack and merges from the first one that does.
 *
 * <p>What is kept is decided here; how the layers are merged lives beside it: {@link OnePassMerge} for a full
 * squash (top-down, nothing spooled), {@link TwoPassMerge} when layers are kept or the one pass cannot do the
 * image. {@code auto} decides from every layer's {@link LayerIndex} ({@link WasteAnalysis}); indexes come from a
 * {@link LayerIndexStore}, so a base indexed for one image is not read again for the next. The bytes written never
 * depend on threads or timing. The {@link BlobSource} must allow several blobs to be read at once.
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
    return WasteAnalysis.of(manifest.layers(), new LayerIndexer(blobs, indexes).all(manifest.layers(),
        config.diffIds(), maxUncompressedBytes, listener));
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
    if (!options.prioritized().isEmpty() && options.compression().algorithm() != Compression.Algorithm.ESTARGZ) {
      throw new IllegalArgumentException("prioritized files go with estargz compression, not "
          + options.compression());
    }
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
        return unchanged(manifest, manifestBytes, manifestDigest, configBytes, started, -1, null);
      }
      // Every layer is read (or its index found) to decide: the image is verified even when it stays as it is.
      checkSquashable(layers, 0);
      known = new LayerIndexer(blobs, indexes, options.paths()).all(layers, config.diffIds(),
          options.maxUncompressedBytes(),
          listener);
      WasteAnalysis analysis = WasteAnalysis.of(layers, known);
      keep = analysis.autoKeep(options.auto());
      wasted = analysis.wastedBytes();
    } else {
      keep = Math.min(options.keepLayers(), total);
    }
    if (total - keep <= 1) {
      return unchanged(manifest, manifestBytes, manifestDigest, configBytes, started, wasted, known);
    }
    checkSquashable(layers, keep);
    Files.createDirectories(workDir);
    Path layerFile = Files.createTempFile(workDir, "squashed-", ".blob");
    boolean ok = false;
    try {
      long[] tarSizes = new long[total];
      Written written = null;
      String method;
      if (keep == 0 && !options.prioritized().isEmpty()) {
        method = "two passes: prioritized files"; // the one pass writes in layer order, top-down
      } else if (keep == 0) {
        try {
          written = new OnePassMerge(layers, config.diffIds(), blobs, listener, options.paths()).write(options.compression(), pool,
              layerFile, options.maxUncompressedBytes(), tarSizes);
          method = SquashReport.ONE_PASS;
        } catch (OnePassMerge.NotInOnePass e) {
          method = "two passes: " + e.getMessage();
        }
      } else {
        method = "two passes: layers kept";
      }
      if (written == null) {
        written = new TwoPassMerge(layers, config.diffIds(), blobs, listener, pool, indexes)
            .write(keep, options, layerFile, tarSizes, known);
      }

      Descriptor squashedLayer = Descriptor.of(
          manifest.family().layerMediaType(options.compression().algorithm()), written.digest, written.size)
          .withAnnotations(written.annotations);
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

  private SquashResult unchanged(ImageManifest manifest, byte[] manifestBytes, Digest manifestDigest,
      byte[] configBytes, long started, long wasted, List<LayerIndex> indexed) {
    long size = manifest.totalLayerSize();
    long tar = indexed == null ? -1 : indexed.stream().mapToLong(LayerIndex::tarSize).sum();
    SquashReport report = new SquashReport(manifest.layers().size(), manifest.layers().size(), size, size, tar,
        tar, Duration.ofNanos(System.nanoTime() - started), wasted >= 0 ? "unchanged: nothing wasted beyond the slack"
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
    if (e instanceof LimitedTee.SizeLimitException || e instanceof io.squashproxy.core.tar.UnsupportedTarException) {
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
    apply(tree, tree.paths.intern(cleanEntryName(e.name())), e.type(), e.linkName(), layer, ordinal);
  }

  /** Applies a member already read: its cleaned path in the tree's trie, its type and hard link target. */
  static void apply(FsTree tree, PathName path, byte type, String linkName, int layer, int ordinal) {
    String base = path.name;
    if (Whiteouts.isOpaque(base)) {
      tree.opaque(path.parent, layer);
    } else if (Whiteouts.isMeta(base)) {
      // AUFS bookkeeping: no file-system meaning
    } else if (Whiteouts.isWhiteout(base)) {
      tree.whiteout(whitedOut(tree.paths, path), layer);
    } else if (path.isRoot() && type != TarType.DIRECTORY) {
      throw new IllegalArgumentException("the root must be a directory");
    } else {
      tree.add(path, type, linkName, layer, ordinal);
    }
  }

  /** The path the whiteout {@code marker} deletes; {@code .} and {@code ..} are refused. */
  static PathName whitedOut(PathTrie paths, PathName marker) {
    String deleted = Whiteouts.deletedName(marker.name);
    if (deleted.equals(".") || deleted.equals("..")) {
      throw new IllegalArgumentException("whiteout of '" + deleted + "' is not allowed");
    }
    return paths.child(marker.parent, deleted);
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

  /** The squashed layer written: blob digest and size, diff_id, tar size, descriptor annotations (estargz). */
  record Written(Digest digest, long size, Digest diffId, long tarSize, java.util.Map<String, String> annotations) {}

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
}
