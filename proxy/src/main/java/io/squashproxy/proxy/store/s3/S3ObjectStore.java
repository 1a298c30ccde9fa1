package io.squashproxy.proxy.store.s3;

import io.squashproxy.proxy.store.ObjectStore;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.AbortMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * An S3 bucket (AWS or any S3-compatible store) through the AWS SDK's synchronous client over the JDK's
 * URLConnection. Calls block: callers run them on the io or squash pools, never on an event loop.
 *
 * <p>Visibility: a single PUT is atomic, and a multipart upload becomes an object only at
 * CompleteMultipartUpload; a failed part aborts the upload, and uploads left by a crashed replica are
 * aborted at start ({@link #abortUploadsOlderThan}). The SDK's default request checksums (aws-chunked
 * trailers) are asked for only where S3 requires them: several S3-compatible stores refuse them.
 */
public final class S3ObjectStore implements ObjectStore {
  private static final Logger LOG = LoggerFactory.getLogger(S3ObjectStore.class);

  /** What {@link #create} needs; mirrors the {@code storage.s3} config. */
  public record Settings(String bucket, String prefix, URI endpoint, String region, boolean pathStyle,
      String accessKeyId, String secretAccessKey, long partSize) {}

  /** Opens a fresh stream over the same bytes each time (so the SDK can retry a part). */
  public interface Source {
    InputStream open() throws IOException;
  }

  private final S3Client s3;
  private final String bucket;
  private final String prefix;
  private final long partSize;
  /** Whether the store honours {@code If-None-Match: *} on PUT (AWS since 2024, MinIO, R2; not s3proxy). */
  private volatile boolean conditionalPuts = true;

  S3ObjectStore(S3Client s3, String bucket, String prefix, long partSize) {
    this.s3 = s3;
    this.bucket = bucket;
    this.prefix = prefix == null ? "" : prefix;
    this.partSize = partSize;
  }

  public static S3ObjectStore create(Settings s) {
    S3ClientBuilder b = S3Client.builder()
        .httpClientBuilder(UrlConnectionHttpClient.builder()
            .connectionTimeout(Duration.ofSeconds(10)).socketTimeout(Duration.ofMinutes(2)))
        .region(Region.of(s.region()))
        .forcePathStyle(s.pathStyle())
        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
        .credentialsProvider(credentials(s));
    if (s.endpoint() != null) {
      b.endpointOverride(s.endpoint());
    }
    return new S3ObjectStore(b.build(), s.bucket(), s.prefix(), s.partSize());
  }

  private static AwsCredentialsProvider credentials(Settings s) {
    if (s.accessKeyId() != null) {
      return StaticCredentialsProvider.create(AwsBasicCredentials.create(s.accessKeyId(), s.secretAccessKey()));
    }
    // Environment, system properties, profile files, web identity (IRSA), container and instance roles.
    return DefaultCredentialsProvider.builder().build();
  }

  /**
   * Fails with a message naming the bucket when it cannot be reached (wrong endpoint, credentials, name),
   * and finds out whether the store honours conditional puts (two conditional PUTs of one probe key).
   */
  public void check() throws IOException {
    try {
      s3.headBucket(r -> r.bucket(bucket));
    } catch (SdkException e) {
      throw new IOException("storage.s3: cannot use bucket " + bucket + ": " + e.getMessage(), e);
    }
    String probe = "probes/conditional-put-" + java.util.UUID.randomUUID();
    boolean first = conditionalPut(probe, new byte[0]);
    boolean second = conditionalPut(probe, new byte[0]);
    delete(probe);
    conditionalPuts = first && !second;
    if (!conditionalPuts) {
      LOG.info("{} ignores If-None-Match on PUT: squash leases fall back to check-then-put", describe());
    }
  }

  @Override
  public boolean conditionalPuts() {
    return conditionalPuts;
  }

  private String k(String key) {
    return prefix + key;
  }

  @Override
  public boolean exists(String key) throws IOException {
    return head(key).isPresent();
  }

  private Optional<HeadObjectResponse> head(String key) throws IOException {
    return ifExists("HEAD", key, () -> s3.headObject(r -> r.bucket(bucket).key(k(key))));
  }

  @Override
  public Optional<byte[]> get(String key) throws IOException {
    return ifExists("GET", key, () -> s3.getObjectAsBytes(q -> q.bucket(bucket).key(k(key))))
        .map(ResponseBytes::asByteArrayUnsafe);
  }

  @Override
  public Optional<InputStream> open(String key) throws IOException {
    return ifExists("GET", key, () -> s3.getObject(q -> q.bucket(bucket).key(k(key))))
        .map(body -> new FilterInputStream(body) {
          @Override
          public void close() throws IOException {
            // Closing early would drain the rest of a big object to reuse the connection: drop it instead.
            body.abort();
            body.close();
          }
        });
  }

  /**
   * What {@code read} returns, or empty when the object is absent: NoSuchKey, or a bare 404 (a HEAD has no
   * body to name the error). Any other failure is an IOException naming {@code op} and the key.
   */
  private <T> Optional<T> ifExists(String op, String key, Supplier<T> read) throws IOException {
    try {
      return Optional.of(read.get());
    } catch (NoSuchKeyException e) {
      return Optional.empty();
    } catch (S3Exception e) {
      if (e.statusCode() == 404) {
        return Optional.empty();
      }
      throw io(op, key, e);
    } catch (SdkException e) {
      throw io(op, key, e);
    }
  }

  @Override
  public void put(String key, byte[] bytes) throws IOException {
    try {
      s3.putObject(r -> r.bucket(bucket).key(k(key)).contentLength((long) bytes.length),
          RequestBody.fromBytes(bytes));
    } catch (SdkException e) {
      throw io("PUT", key, e);
    }
  }

  @Override
  public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
    if (!conditionalPuts) {
      if (exists(key)) {
        return false;
      }
      put(key, bytes);
      return true;
    }
    return conditionalPut(key, bytes);
  }

  private boolean conditionalPut(String key, byte[] bytes) throws IOException {
    try {
      s3.putObject(r -> r.bucket(bucket).key(k(key)).ifNoneMatch("*").contentLength((long) bytes.length),
          RequestBody.fromBytes(bytes));
      return true;
    } catch (S3Exception e) {
      if (e.statusCode() == 412 || e.statusCode() == 409) {
        return false; // 412: the object exists; 409: a conditional write on the same key is in progress
      }
      throw io("PUT", key, e);
    } catch (SdkException e) {
      throw io("PUT", key, e);
    }
  }

  @Override
  public void putFile(String key, Path file) throws IOException {
    long size = Files.size(file);
    putStream(key, size, () -> Files.newInputStream(file), (offset, length) -> slice(file, offset, length));
  }

  /** Opens {@code length} bytes of {@code file} from {@code offset}. */
  private interface Slicer {
    InputStream open(long offset, long length) throws IOException;
  }

  private static InputStream slice(Path file, long offset, long length) throws IOException {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
    ch.position(offset);
    return new BoundedInputStream(Channels.newInputStream(ch), length);
  }

  /**
   * Uploads {@code size} bytes from {@code source}: one PUT up to the part size, else a multipart upload
   * whose parts read successive slices of a fresh stream; any failure aborts the upload, so no object and no
   * stored parts remain. Public for tests that interrupt an upload.
   */
  public void putStream(String key, long size, Source source) throws IOException {
    putStream(key, size, source, (offset, length) -> {
      InputStream in = source.open();
      in.skipNBytes(offset);
      return new BoundedInputStream(in, length);
    });
  }

  private void putStream(String key, long size, Source whole, Slicer slices) throws IOException {
    if (size <= partSize) {
      try {
        s3.putObject(r -> r.bucket(bucket).key(k(key)).contentLength(size),
            RequestBody.fromContentProvider(provider(whole), size, "application/octet-stream"));
      } catch (SdkException e) {
        throw io("PUT", key, e);
      }
      return;
    }
    String uploadId;
    try {
      uploadId = s3.createMultipartUpload(r -> r.bucket(bucket).key(k(key))).uploadId();
    } catch (SdkException e) {
      throw io("POST (create multipart upload)", key, e);
    }
    try {
      List<CompletedPart> parts = new ArrayList<>();
      int number = 1;
      for (long offset = 0; offset < size; offset += partSize, number++) {
        long length = Math.min(partSize, size - offset);
        long from = offset;
        int n = number;
        String etag = s3.uploadPart(r -> r.bucket(bucket).key(k(key)).uploadId(uploadId).partNumber(n)
                .contentLength(length),
            RequestBody.fromContentProvider(provider(() -> slices.open(from, length)), length,
                "application/octet-stream")).eTag();
        parts.add(CompletedPart.builder().partNumber(n).eTag(etag).build());
      }
      s3.completeMultipartUpload(r -> r.bucket(bucket).key(k(key)).uploadId(uploadId)
          .multipartUpload(CompletedMultipartUpload.builder().parts(parts).build()));
    } catch (SdkException e) {
      abort(key, uploadId);
      throw io("PUT (multipart)", key, e);
    } catch (java.io.UncheckedIOException e) {
      abort(key, uploadId);
      throw e.getCause();
    } catch (RuntimeException e) {
      abort(key, uploadId);
      throw e;
    }
  }

  private static ContentStreamProvider provider(Source source) {
    return () -> {
      try {
        return source.open();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
  }

  private void abort(String key, String uploadId) {
    try {
      s3.abortMultipartUpload(AbortMultipartUploadRequest.builder().bucket(bucket).key(k(key)).uploadId(uploadId)
          .build());
    } catch (SdkException e) {
      LOG.warn("could not abort the upload of {} ({}); a start-up sweep or the bucket's lifecycle rule will: {}",
          key, uploadId, e.getMessage());
    }
  }

  /**
   * Aborts multipart uploads under the prefix started before {@code cutoff}: parts a crashed replica left
   * (they cost storage and are never visible as objects). Best effort: some stores cannot list uploads.
   */
  public int abortUploadsOlderThan(Instant cutoff) {
    int aborted = 0;
    try {
      for (MultipartUpload u : s3.listMultipartUploadsPaginator(r -> r.bucket(bucket).prefix(prefix)).uploads()) {
        if (u.initiated() != null && u.initiated().isBefore(cutoff)) {
          s3.abortMultipartUpload(r -> r.bucket(bucket).key(u.key()).uploadId(u.uploadId()));
          aborted++;
        }
      }
    } catch (SdkException e) {
      LOG.info("could not list unfinished uploads in {} ({}); rely on the bucket's lifecycle rule "
          + "AbortIncompleteMultipartUpload", describe(), e.getMessage());
    }
    return aborted;
  }

  /** Unfinished multipart uploads under the prefix (tests). */
  public List<String> unfinishedUploads() {
    List<String> out = new ArrayList<>();
    for (MultipartUpload u : s3.listMultipartUploadsPaginator(r -> r.bucket(bucket).prefix(prefix)).uploads()) {
      out.add(u.key());
    }
    return out;
  }

  @Override
  public Optional<Instant> lastModified(String key) throws IOException {
    return head(key).map(HeadObjectResponse::lastModified);
  }

  @Override
  public void delete(String key) throws IOException {
    try {
      s3.deleteObject(r -> r.bucket(bucket).key(k(key)));
    } catch (SdkException e) {
      throw io("DELETE", key, e);
    }
  }

  @Override
  public String describe() {
    return "s3://" + bucket + "/" + prefix;
  }

  @Override
  public void close() {
    s3.close();
  }

  private IOException io(String op, String key, SdkException e) {
    return new IOException(op + " " + describe() + key + ": " + e.getMessage(), e);
  }

  /** At most {@code remaining} bytes of the underlying stream. */
  private static final class BoundedInputStream extends FilterInputStream {
    private long remaining;

    BoundedInputStream(InputStream in, long length) {
      super(in);
      this.remaining = length;
    }

    @Override
    public int read() throws IOException {
      if (remaining <= 0) {
        return -1;
      }
      int b = super.read();
      if (b >= 0) {
        remaining--;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (remaining <= 0) {
        return -1;
      }
      int n = super.read(b, off, (int) Math.min(len, remaining));
      if (n > 0) {
        remaining -= n;
      }
      return n;
    }
  }
}
