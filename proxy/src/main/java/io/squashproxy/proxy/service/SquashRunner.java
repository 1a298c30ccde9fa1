package io.squashproxy.proxy.service;

import io.squashproxy.core.digest.Digest;
import io.squashproxy.core.image.InvalidImageException;
import io.squashproxy.core.image.NotAnImageException;
import io.squashproxy.core.squash.SquashException;
import io.squashproxy.core.squash.SquashOptions;
import io.squashproxy.core.layer.CompressionPool;
import io.squashproxy.core.squash.LayerIndexStore;
import io.squashproxy.core.squash.SquashReport;
import io.squashproxy.core.squash.SquashResult;
import io.squashproxy.core.squash.Squasher;
import io.squashproxy.proxy.store.ContentStore.StoredBlob;
import io.squashproxy.proxy.store.ContentStore.StoredManifest;
import io.squashproxy.proxy.store.SquashRecords;
import io.squashproxy.proxy.store.SquashRecords.SquashRecord;
import io.squashproxy.proxy.store.Storage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One squash of an image whose blobs are all in the store, and its publication: the squashed blobs, then
 * the manifest, then the {@link SquashRecord} (last, so a crash at any point leaves no record naming
 * missing content). Blocking: runs on a squash worker.
 *
 * <p>Outcomes: the squashed manifest (or the one another replica published first for the same source and
 * options); the source itself for images the squash cannot merge faithfully (logged, counted as a
 * failure); a {@code MANIFEST_INVALID} refusal for broken images; the I/O error (the request fails, nothing
 * is recorded) when the store fails or fills up.
 */
final class SquashRunner {
  private static final Logger LOG = LoggerFactory.getLogger(SquashRunner.class);

  private final Storage store;
  private final SquashRecords records;
  private final ProxyStats stats;
  private final LayerIndexStore indexes;

  /** @param indexes layer indexes kept between squashes (a shared base is read once for all its images) */
  SquashRunner(Storage store, SquashRecords records, ProxyStats stats, LayerIndexStore indexes) {
    this.store = store;
    this.records = records;
    this.stats = stats;
    this.indexes = indexes;
  }

  ServedManifest squashNow(Route route, ServedManifest source, SquashOptions options, String optionsText) {
    stats.squashesInFlight.increment();
    try {
      SquashResult result = new Squasher(new SquashProgressLog(route.canonicalName() + "@" + source.digest()),
          CompressionPool.shared(), indexes).squash(source.bytes(), this::openStoredBlob, options, store.tmpDir());
      if (!result.squashed()) {
        rememberUnchanged(route, source, optionsText, result.report());
        return source;
      }
      try {
        return publish(route, source, optionsText, result);
      } finally {
        result.deleteLayerFile();
      }
    } catch (SquashException e) {
      failIfStorageFull(e);
      stats.squashFailures.increment();
      if (!e.unsupported()) {
        // Corrupt or truncated layers, digest or diff_id mismatches, names escaping the root: no client can
        // use the image, and serving it would pass the problem on as if it were fine.
        throw BrokenImages.refused(route, source.digest(), e);
      }
      // The image is valid but not something we can merge faithfully: serve it as it is.
      LOG.warn("not squashing {}@{}: {}", route.canonicalName(), source.digest(), e.getMessage());
      return source;
    } catch (NotAnImageException e) {
      stats.squashFailures.increment();
      LOG.warn("not squashing {}@{}: {}", route.canonicalName(), source.digest(), e.getMessage());
      return source;
    } catch (InvalidImageException e) {
      // A broken config (no rootfs, diff_ids that do not match the layers, not JSON): refused.
      stats.squashFailures.increment();
      throw BrokenImages.refused(route, source.digest(), e);
    } catch (IOException e) {
      stats.squashFailures.increment();
      throw new CompletionException(e);
    } catch (OutOfMemoryError e) {
      // Only when limits.maxPathsPerSquash is set above what the heap holds (the default leaves half the heap to
      // the rest of the proxy). What the squash held is garbage once this unwinds: the image is served as it is.
      stats.squashFailures.increment();
      LOG.warn("not squashing {}@{}: the heap ran out during the squash; lower limits.maxPathsPerSquash or give "
          + "the proxy more heap (-Xmx)", route.canonicalName(), source.digest());
      return source;
    } finally {
      stats.squashesInFlight.decrement();
    }
  }

  /**
   * An image the rule leaves as it is ({@code auto} found nothing wasted): recorded as a squash whose result is
   * the source itself, so the decision is not made again on every pull or after a restart, and the status page
   * lists the image.
   */
  private void rememberUnchanged(Route route, ServedManifest source, String optionsText, SquashReport report)
      throws IOException {
    records.put(new SquashRecord(source.digest(), route.upstream().name(), route.repository(), source.digest(),
        optionsText, report.layersBefore(), report.layersAfter(), report.compressedBytesBefore(),
        report.compressedBytesAfter(), List.of(), report.layersAfter(), Math.max(0, report.wastedBytes())));
    LOG.info("kept {}@{} as it is: {}", route.canonicalName(), source.digest(), report.summary());
  }

  /** Waste found: what the analysis measured, else the uncompressed bytes the squash removed. */
  private static long wasted(SquashReport report) {
    return report.wastedBytes() >= 0 ? report.wastedBytes()
        : Math.max(0, report.uncompressedBytesBefore() - report.uncompressedBytesAfter());
  }

  private ServedManifest publish(Route route, ServedManifest source, String optionsText, SquashResult result)
      throws IOException {
    store.putBlob(result.configDigest(), result.config());
    store.adoptVerified(result.squashedLayer().digest(), result.squashedLayerFile());
    Digest digest = store.putManifest(result.manifest(), result.manifestMediaType());
    var report = result.report();
    SquashRecord held = records.put(new SquashRecord(digest, route.upstream().name(), route.repository(),
        source.digest(), optionsText, report.layersBefore(), report.layersAfter(),
        report.compressedBytesBefore(), report.compressedBytesAfter(),
        List.of(result.configDigest(), result.squashedLayer().digest()), report.layersAfter() - 1,
        wasted(report)));
    stats.squashes.increment();
    if (!report.onePass()) {
      stats.twoPassSquashes.increment();
    }
    stats.squashBytesIn.add(report.compressedBytesBefore());
    stats.squashBytesOut.add(report.compressedBytesAfter());
    stats.squashTook(report.elapsed());
    LOG.info("squashed {}@{} -> {}: {}", route.canonicalName(), source.digest(), digest, report.summary());
    if (!held.manifest().equals(digest)) {
      // Another replica published its squash of this source first: serve that one, as all replicas do.
      Optional<StoredManifest> first = store.manifest(held.manifest());
      if (first.isPresent()) {
        return new ServedManifest(first.get().bytes(), first.get().mediaType(), held.manifest(), false);
      }
    }
    return new ServedManifest(result.manifest(), result.manifestMediaType(), digest, false);
  }

  /**
   * A squash that failed because the work directory filled up fails the request instead of passing the image
   * through as one we cannot merge (the squasher reports a failed spool write as an unreadable layer).
   */
  private void failIfStorageFull(IOException e) {
    if (StorageFull.causedBy(e)) {
      stats.squashFailures.increment();
      throw new CompletionException(e);
    }
  }

  private InputStream openStoredBlob(Digest d) throws IOException {
    StoredBlob b = store.blob(d).orElseThrow(() -> new IOException("blob " + d + " left the cache"));
    return Files.newInputStream(b.path());
  }
}
