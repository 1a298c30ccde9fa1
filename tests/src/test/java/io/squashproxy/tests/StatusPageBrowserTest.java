package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squashproxy.tests.support.AccessLogRegistry;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.ImageBuilder;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.ProxyProcess;
import io.squashproxy.tests.support.Scratch;
import io.squashproxy.tests.support.Skopeo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The admin status page as a person sees it: loaded in headless Chromium (Debian's {@code chromium}) after a
 * pull (the page has no script), it shows the squashed image with its layers and sizes before and after.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class StatusPageBrowserTest {

  @Test
  void headlessChromiumShowsTheSquashedImageAndItsSavings() throws Exception {
    Env.requireTools("chromium", "skopeo", "umoci", "docker-registry");
    try (Scratch work = Scratch.create("status");
        AccessLogRegistry registry = AccessLogRegistry.start();
        ImageBuilder image = ImageBuilder.create("status")) {
      image.layer("base", root -> write(root.resolve("etc/os-release"), "ID=status-test\n"))
          .layer("big file", root -> write(root.resolve("tmp/big"), "x".repeat(3_000_000)))
          .layer("delete it", "rm tmp/big");
      Skopeo.copy(image.skopeoRef(), registry.ref("web/app:1"));
      try (ProxyProcess proxy = ProxyProcess.start(registry.url())) {
        Skopeo.copy(proxy.ref("web/app:1"), "oci:" + work.dir("pulled") + ":img");
        assertEquals(1, proxy.squashLineCount());

        Path profile = work.dir("chromium-profile");
        Proc.Result dom = Proc.of("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile,
                "--dump-dom", proxy.adminUrl() + "/")
            .timeout(Duration.ofSeconds(90)).ok();
        String html = dom.stdout();
        assertTrue(html.contains("1 squashed images cached"), html);
        assertTrue(html.contains("web/app"), html);
        assertTrue(html.contains(image.layerCount() + " → 1"), "layers before -> after: " + html);
        assertTrue(html.contains("<svg id=\"chart\""), html);
        assertTrue(html.matches("(?s).*saved <strong>[0-9.]+ (KiB|MiB)</strong> \\([0-9.]+%\\).*"), html);

        Path png = work.resolve("status.png");
        Proc.of("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1000,700", "--screenshot=" + png,
                proxy.adminUrl() + "/")
            .timeout(Duration.ofSeconds(90)).ok();
        assertTrue(Files.size(png) > 5_000, "a rendered page, not a blank one");
        String keep = System.getenv("SQUASH_KEEP_SCREENSHOT");
        if (keep != null) {
          Files.copy(png, Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  private static void write(Path file, String content) {
    try {
      Files.createDirectories(file.getParent());
      Files.writeString(file, content);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
