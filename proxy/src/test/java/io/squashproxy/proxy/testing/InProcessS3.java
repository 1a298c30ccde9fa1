package io.squashproxy.proxy.testing;

import ch.qos.logback.classic.Level;
import io.squashproxy.proxy.store.s3.S3ObjectStore;
import java.net.URI;
import java.nio.file.Path;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import org.slf4j.LoggerFactory;

/**
 * An S3 API server in this JVM (s3proxy over a directory) on a free 127.0.0.1 port, with SigV4 auth, so the
 * real AWS SDK client runs against it exactly as against a bucket.
 */
public final class InProcessS3 implements AutoCloseable {
  public static final String ACCESS_KEY = "test-access";
  public static final String SECRET_KEY = "test-secret";

  private final S3Proxy proxy;
  private final BlobStoreContext context;

  private InProcessS3(S3Proxy proxy, BlobStoreContext context) {
    this.proxy = proxy;
    this.context = context;
  }

  public static InProcessS3 start(Path dir, String... buckets) throws Exception {
    for (String quiet : new String[] {"org.gaul", "org.jclouds", "org.eclipse.jetty", "jclouds", "software.amazon"}) {
      ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(quiet)).setLevel(Level.WARN);
    }
    Properties p = new Properties();
    p.setProperty("jclouds.filesystem.basedir", dir.toString());
    p.setProperty("jclouds.identity", "unused");
    p.setProperty("jclouds.credential", "unused");
    BlobStoreContext context = ContextBuilder.newBuilder(System.getProperty("s3.backend", "transient-nio2")).overrides(p)
        .build(BlobStoreContext.class);
    for (String b : buckets) {
      context.getBlobStore().createContainerInLocation(null, b);
    }
    S3Proxy proxy = S3Proxy.builder().blobStore(context.getBlobStore())
        .endpoint(URI.create("http://127.0.0.1:0"))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
        .build();
    proxy.start();
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!"STARTED".equals(proxy.getState()) && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    return new InProcessS3(proxy, context);
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + proxy.getPort());
  }

  public S3ObjectStore store(String bucket, String prefix, long partSize) {
    return S3ObjectStore.create(new S3ObjectStore.Settings(bucket, prefix, endpoint(), "us-east-1", true,
        ACCESS_KEY, SECRET_KEY, partSize));
  }

  @Override
  public void close() throws Exception {
    proxy.stop();
    context.close();
  }
}
