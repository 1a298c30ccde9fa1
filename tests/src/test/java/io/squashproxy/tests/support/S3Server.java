package io.squashproxy.tests.support;

import ch.qos.logback.classic.Level;
import java.net.URI;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import org.slf4j.LoggerFactory;

/**
 * An S3 API server (s3proxy, in memory) in the test JVM on a free 127.0.0.1 port, with SigV4 credentials: the
 * proxy processes reach it over HTTP with the real AWS SDK client, as they would a bucket. One bucket,
 * {@link #BUCKET}.
 */
public final class S3Server implements AutoCloseable {
  public static final String BUCKET = "squash-cache";
  public static final String ACCESS_KEY = "scale-test";
  public static final String SECRET_KEY = "scale-test-secret";

  private final S3Proxy proxy;
  private final BlobStoreContext context;

  private S3Server(S3Proxy proxy, BlobStoreContext context) {
    this.proxy = proxy;
    this.context = context;
  }

  public static S3Server start() {
    for (String quiet : new String[] {"org.gaul", "org.jclouds", "jclouds", "org.eclipse.jetty"}) {
      ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(quiet)).setLevel(Level.WARN);
    }
    Properties p = new Properties();
    p.setProperty("jclouds.identity", "unused");
    p.setProperty("jclouds.credential", "unused");
    BlobStoreContext context = ContextBuilder.newBuilder("transient-nio2").overrides(p)
        .build(BlobStoreContext.class);
    context.getBlobStore().createContainerInLocation(null, BUCKET);
    S3Proxy proxy = S3Proxy.builder().blobStore(context.getBlobStore())
        .endpoint(URI.create("http://127.0.0.1:" + Proc.freePort()))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
        .build();
    try {
      proxy.start();
    } catch (Exception e) {
      context.close();
      throw new AssertionError("s3proxy did not start", e);
    }
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!"STARTED".equals(proxy.getState()) && System.nanoTime() < deadline) {
      DistributionRegistry.sleep(10);
    }
    return new S3Server(proxy, context);
  }

  /** {@code http://127.0.0.1:PORT}. */
  public String endpoint() {
    return "http://127.0.0.1:" + proxy.getPort();
  }

  /** The {@code storage:} section of a proxy config that uses this bucket under {@code prefix}. */
  public String storageYaml(String prefix, String lease) {
    return "storage:\n"
        + "  s3:\n"
        + "    bucket: " + BUCKET + "\n"
        + "    prefix: " + prefix + "\n"
        + "    endpoint: " + endpoint() + "\n"
        + "    region: us-east-1\n"
        + "    pathStyle: true\n"
        + "    accessKeyId: " + ACCESS_KEY + "\n"
        + "    secretAccessKey: " + SECRET_KEY + "\n"
        + "    lease: " + lease + "\n";
  }

  /** How many objects the bucket holds under {@code prefix}. */
  public long objectCount(String prefix) {
    return context.getBlobStore().list(BUCKET, org.jclouds.blobstore.options.ListContainerOptions.Builder
        .prefix(prefix).recursive()).size();
  }

  @Override
  public void close() {
    try {
      proxy.stop();
    } catch (Exception e) {
      // stopping a test server: nothing to do
    } finally {
      context.close();
    }
  }
}
