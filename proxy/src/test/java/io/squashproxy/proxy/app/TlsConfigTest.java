package io.squashproxy.proxy.app;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.benmanes.caffeine.cache.Ticker;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.proxy.testing.InMemoryRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TlsConfigTest {
  @TempDir
  Path dir;

  @Test
  void anUnusableKeyStopsTheStartWithAMessageThatSaysWhatToDo() throws Exception {
    Path cert = dir.resolve("cert.pem");
    Path key = dir.resolve("key.pem");
    Files.writeString(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    Files.writeString(key, "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n");
    ProxyConfig config = ConfigLoader.parse(String.join("\n",
        "listen: 127.0.0.1:0",
        "admin: {listen: 127.0.0.1:0}",
        "tls: {cert: '" + cert + "', key: '" + key + "'}",
        "cache: {directory: '" + dir.resolve("cache") + "'}"), "t.yaml", Map.of());
    IOException e = assertThrows(IOException.class,
        () -> SquashProxy.start(config, s -> new InMemoryRegistry("up"), Ticker.systemTicker()).close());
    assertTrue(e.getMessage().startsWith("tls: cannot use"), e.getMessage());
    assertTrue(e.getMessage().contains("openssl pkcs8 -topk8 -nocrypt"), e.getMessage());
  }
}
