package io.squashproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class StorageConfigTest {

  @Test
  void withoutStorageTheLocalDirectoryIsTheWholeCache() throws Exception {
    assertNull(ProxyConfig.defaults().storage().s3());
    assertNull(ConfigLoader.load(Path.of("squash-proxy.yaml"), Map.of()).storage().s3());
  }

  @Test
  void theScaleOutSampleLoadsWithSecretsFromTheEnvironment() throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of("scale-out-s3.yaml"), Map.of("SQUASH_S3_BUCKET", "cache",
        "SQUASH_S3_ENDPOINT", "http://minio:9000", "SQUASH_S3_ACCESS_KEY_ID", "id",
        "SQUASH_S3_SECRET_ACCESS_KEY", "secret"));
    ProxyConfig.S3 s3 = c.storage().s3();
    assertEquals("cache", s3.bucket());
    assertEquals("squash-proxy/", s3.prefix());
    assertEquals("http://minio:9000", s3.endpoint());
    assertEquals("us-east-1", s3.region());
    assertTrue(s3.pathStyle());
    assertEquals("id", s3.accessKeyId());
    assertEquals("secret", s3.secretAccessKey());
    assertEquals(64L << 20, s3.partSize().bytes());
    assertEquals(Duration.ofSeconds(30), s3.lease());
  }

  @Test
  void emptyCredentialsMeanTheStandardAwsChain() throws Exception {
    ProxyConfig c = ConfigLoader.load(Path.of("scale-out-s3.yaml"), Map.of("SQUASH_S3_BUCKET", "cache"));
    assertNull(c.storage().s3().accessKeyId());
    assertNull(c.storage().s3().secretAccessKey());
    assertNull(c.storage().s3().endpoint());
  }

  @Test
  void theBucketComesFromTheEnvironmentOrTheStartFails() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Path.of("scale-out-s3.yaml"), Map.of()));
    assertTrue(e.getMessage().contains("SQUASH_S3_BUCKET"), e.getMessage());
  }

  @Test
  void aPrefixGetsItsSlashAndAwsNeedsNoPathStyle() throws Exception {
    ProxyConfig c = ConfigLoader.parse("storage:\n  s3:\n    bucket: b\n    prefix: team\n", "x.yaml", Map.of());
    assertEquals("team/", c.storage().s3().prefix());
    assertFalse(c.storage().s3().pathStyle());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "storage:\\n  s3:\\n    prefix: x                           | x.yaml line 2, column 3: storage.s3.bucket: required",
      "storage:\\n  s3:\\n    bucket: b\\n    endpoint: minio:9000 | storage.s3.endpoint: must start with http",
      "storage:\\n  s3:\\n    bucket: b\\n    accessKeyId: a       | storage.s3.accessKeyId: accessKeyId and secretAccessKey go together",
      "storage:\\n  s3:\\n    bucket: b\\n    partSize: 1MiB       | storage.s3.partSize: must be at least 5MiB",
      "storage:\\n  s3:\\n    bucket: b\\n    buckit: c            | x.yaml line 4, column 5: storage.s3.buckit: unknown key 'buckit'",
  })
  void badStorageConfigsAreRefusedNamingTheKey(String yaml, String expected) {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.parse(yaml.replace("\\n", "\n"), "x.yaml", Map.of()));
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
