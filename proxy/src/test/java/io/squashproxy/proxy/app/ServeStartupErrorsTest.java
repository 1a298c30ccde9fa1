package io.squashproxy.proxy.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.proxy.cli.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code serve} refuses to start with one line a person can act on, and exit code 1: what could not be used,
 * its address or path, the key or flag that sets it, and why; never a library's own text
 * ({@code bind(..) failed with error(-98)}) or a stack trace. Run in-process through the real command line.
 */
class ServeStartupErrorsTest {
  @TempDir
  Path dir;

  record Outcome(int exit, String err) {}

  Outcome serve(String... args) {
    StringWriter err = new StringWriter();
    StringWriter out = new StringWriter();
    List<String> all = new ArrayList<>(List.of("serve", "--upstream", "http://127.0.0.1:1"));
    if (!List.of(args).contains("--cache-dir")) {
      all.addAll(List.of("--cache-dir", dir.resolve("cache").toString()));
    }
    all.addAll(List.of(args));
    // A start that wrongly succeeds would serve until stopped: fail instead of hanging.
    int exit = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      CommandLine cl = Main.commandLine();
      cl.setErr(new PrintWriter(err, true));
      cl.setOut(new PrintWriter(out, true));
      return cl.execute(all.toArray(String[]::new));
    });
    String text = err.toString().strip();
    assertTrue(!text.contains("\tat ") && !text.contains("Exception"), "no stack trace or exception name: " + text);
    return new Outcome(exit, text);
  }

  @Test
  void aTakenRegistryPortNamesTheAddressTheListenerAndItsSetting() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      String address = "127.0.0.1:" + taken.getLocalPort();
      Outcome o = serve("--listen", address, "--admin-listen", "127.0.0.1:0");
      assertEquals(1, o.exit(), o.err());
      assertEquals("error: the registry listener cannot listen on " + address
          + " (set by listen or --listen): address already in use", o.err());
    }
  }

  @Test
  void aTakenAdminPortNamesTheAdminListenerAndItsSetting() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      String address = "127.0.0.1:" + taken.getLocalPort();
      Outcome o = serve("--listen", "127.0.0.1:0", "--admin-listen", address);
      assertEquals(1, o.exit(), o.err());
      assertEquals("error: the admin listener cannot listen on " + address
          + " (set by admin.listen or --admin-listen): address already in use", o.err());
    }
  }

  @Test
  void aCacheDirectoryThatCannotBeUsedIsNamedWithItsSetting() throws Exception {
    // Root reads any directory, so the unusable one here is a file where the directory should be.
    Path file = Files.writeString(dir.resolve("not-a-directory"), "x");
    Outcome o = serve("--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cache-dir", file.toString());
    assertEquals(1, o.exit(), o.err());
    assertEquals("error: cannot use the cache directory " + file + " (set by cache.directory or --cache-dir): "
        + "exists and is not a directory", o.err());
    Path under = file.resolve("cache");
    o = serve("--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cache-dir", under.toString());
    assertEquals(1, o.exit(), o.err());
    assertEquals("error: cannot use the cache directory " + under + " (set by cache.directory or --cache-dir): "
        + "not a directory", o.err());
  }

  @Test
  void aTlsKeyOfAnotherCertificateIsRefusedNamingBoth() throws Exception {
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "cert.key");
    openssl("req", "-x509", "-key", "cert.key", "-subj", "/CN=127.0.0.1", "-days", "2", "-out", "cert.pem");
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key");
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key");
    for (String key : List.of("other.key", "rsa.key")) {
      Outcome o = serve("--config", config("tls: {cert: '" + dir.resolve("cert.pem") + "', key: '"
          + dir.resolve(key) + "'}").toString());
      assertEquals(1, o.exit(), o.err());
      assertEquals("error: tls: the key " + dir.resolve(key) + " does not belong to the certificate "
          + dir.resolve("cert.pem") + " (set by tls.key and tls.cert): the certificate's public key is not the "
          + "key's; configure the key the certificate was issued for", o.err());
    }
    // The right key starts (and is stopped by the taken admin port, so the test does not serve).
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      Outcome o = serve("--config", config("tls: {cert: '" + dir.resolve("cert.pem") + "', key: '"
          + dir.resolve("cert.key") + "'}").toString(), "--admin-listen", "127.0.0.1:" + taken.getLocalPort());
      assertTrue(o.err().startsWith("error: the admin listener"), o.err());
    }
  }

  @Test
  void anHtpasswdFileThatCannotBeReadIsNamedWithItsSetting() throws Exception {
    Path missing = dir.resolve("htpasswd");
    Outcome o = serve("--config", config("auth: {htpasswd: '" + missing + "'}").toString());
    assertEquals(1, o.exit(), o.err());
    assertEquals("error: cannot use the htpasswd file " + missing + " (set by auth.htpasswd): no such file or "
        + "directory", o.err());
    Path directory = Files.createDirectory(dir.resolve("htpasswd.d"));
    o = serve("--config", config("auth: {htpasswd: '" + directory + "'}").toString());
    assertEquals(1, o.exit(), o.err());
    assertEquals("error: cannot use the htpasswd file " + directory + " (set by auth.htpasswd): is a directory",
        o.err());
  }

  Path config(String extra) throws IOException {
    return Files.writeString(dir.resolve("serve.yaml"), String.join("\n",
        "listen: 127.0.0.1:0",
        "admin: {listen: 127.0.0.1:0}",
        extra, ""));
  }

  void openssl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ": " + output);
  }
}
