import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URI;

/**
 * The container image's health probe: exits 0 when {@code GET http://127.0.0.1:5001/healthz} (the admin
 * listener) answers 200 within 3 s, 1 otherwise. The runtime image has a JRE and need not have curl or wget,
 * so the probe is Java; it is compiled in the build stage (a JRE cannot run a source file). Set
 * {@code SQUASH_HEALTHCHECK_URL} when the admin listener is elsewhere (another port, or a container on the
 * host network).
 */
public final class HealthCheck {

  private HealthCheck() {}

  public static void main(String[] args) {
    String env = System.getenv("SQUASH_HEALTHCHECK_URL");
    String url = args.length > 0 ? args[0]
        : env != null && !env.isBlank() ? env : "http://127.0.0.1:5001/healthz";
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection(Proxy.NO_PROXY);
      c.setConnectTimeout(3000);
      c.setReadTimeout(3000);
      c.setInstanceFollowRedirects(false);
      int status = c.getResponseCode();
      c.disconnect();
      System.out.println(url + ": " + status);
      System.exit(status == 200 ? 0 : 1);
    } catch (Exception e) {
      System.out.println(url + ": " + e);
      System.exit(1);
    }
  }
}
