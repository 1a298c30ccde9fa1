package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.squashproxy.config.ConfigException;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import io.squashproxy.proxy.app.SquashProxy;
import io.squashproxy.tests.support.Env;
import io.squashproxy.tests.support.Proc;
import io.squashproxy.tests.support.Scratch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The files under {@code deploy/} (compose, Kubernetes, Prometheus, client mirror configs, the demo) against
 * the code: every YAML and JSON file parses, the embedded proxy configs load with {@link ConfigLoader}, ports,
 * probe paths, scrape targets and mount paths agree with the configs and with {@link ProxyConfig}'s defaults,
 * and every metric the Prometheus rules use is in the {@code /metrics} output of a proxy started here.
 */
class DeployFilesTest {

  /** The container image's contract (deploy/container): config path, cache volume, user. */
  private static final String IMAGE_CONFIG = "/etc/squash-proxy/config.yaml";
  private static final String IMAGE_CACHE = "/data";
  private static final int IMAGE_UID = 10001;
  private static final String SCRAPE_JOB = "squash-proxy";

  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();
  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

  private static Path root;
  private static Path deploy;

  @BeforeAll
  static void locate() {
    root = Env.repoRoot();
    deploy = root.resolve("deploy");
  }

  // --- every file -------------------------------------------------------------------------------------------

  @Test
  void everyYamlAndJsonFileUnderDeployParses() throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.walk(deploy)) {
      files = s.filter(Files::isRegularFile).filter(p -> p.toString().matches(".*\\.(ya?ml|json)$")).sorted()
          .toList();
    }
    assertTrue(files.size() >= 10, "expected the compose, kubernetes, prometheus and client files: " + files);
    for (Path f : files) {
      List<JsonNode> docs = f.toString().endsWith(".json") ? List.of(readJson(f)) : readYamlDocs(f);
      assertFalse(docs.isEmpty(), f + ": no document");
      for (JsonNode d : docs) {
        assertTrue(d.isObject(), f + ": a document is not a mapping: " + d);
      }
    }
  }

  // --- compose ----------------------------------------------------------------------------------------------

  @Test
  void composeRunsTheProxyWithItsConfigBesideARegistryAndPrometheus() throws Exception {
    Path dir = deploy.resolve("compose");
    JsonNode compose = readYaml(dir.resolve("compose.yaml"));
    JsonNode services = compose.path("services");
    JsonNode proxy = services.path("squash-proxy");
    assertEquals("squash-proxy", proxy.path("image").asText(), "proxy image name");
    Path context = dir.resolve(proxy.path("build").path("context").asText()).normalize();
    assertEquals(root, context, "build context is the repository root");
    checkDockerfile(context.resolve(proxy.path("build").path("dockerfile").asText("Dockerfile")));

    Map<String, String> mounts = composeMounts(proxy);
    String configSource = mounts.get(IMAGE_CONFIG);
    assertNotNull(configSource, "the proxy's config is mounted at " + IMAGE_CONFIG + ": " + mounts);
    Path configFile = dir.resolve(configSource).normalize();
    ProxyConfig cfg = load(configFile);

    // Listeners: all interfaces inside the container, the default ports, published.
    assertEquals("0.0.0.0:" + defaultPort(), cfg.listen());
    assertEquals("0.0.0.0:" + defaultAdminPort(), cfg.admin().listen());
    Set<Integer> published = composeContainerPorts(proxy);
    assertTrue(published.contains(port(cfg.listen())), "registry port published: " + published);
    assertTrue(published.contains(port(cfg.admin().listen())), "admin port published: " + published);

    // Cache: the image's volume, a named volume.
    assertEquals(Path.of(IMAGE_CACHE), cfg.cache().directory());
    String cacheVolume = mounts.get(IMAGE_CACHE);
    assertNotNull(cacheVolume, "a volume at " + IMAGE_CACHE + ": " + mounts);
    assertTrue(compose.path("volumes").has(cacheVolume), "named volume " + cacheVolume + " is declared");

    // Upstream: the registry service, on the port registry:2 listens on.
    assertEquals(1, cfg.upstreams().size());
    URI upstream = URI.create(cfg.upstreams().get(0).url());
    assertEquals("http://registry:5000", upstream.toString());
    JsonNode registry = services.path(upstream.getHost());
    assertTrue(registry.path("image").asText().startsWith("registry:2"), "registry service: " + registry);
    assertTrue(composeContainerPorts(registry).contains(upstream.getPort()), "registry publishes 5000");
    assertTrue(proxy.path("depends_on").toString().contains(upstream.getHost()), "the proxy starts after it");

    // The registry sends its push events to the proxy's admin listener, with the secret the proxy wants.
    String registryConfig = composeMounts(registry).get("/etc/docker/registry/config.yml");
    assertNotNull(registryConfig, "the registry's config is mounted: " + composeMounts(registry));
    JsonNode endpoint = readYaml(dir.resolve(registryConfig).normalize()).path("notifications").path("endpoints")
        .path(0);
    assertEquals("http://squash-proxy:" + port(cfg.admin().listen()) + "/notifications",
        endpoint.path("url").asText());
    assertNotNull(cfg.admin().notifications(), "admin.notifications is configured");
    assertEquals("Bearer " + cfg.admin().notifications().secret(),
        endpoint.path("headers").path("Authorization").path(0).asText());

    // Prometheus: its config mounted, scraping the proxy's admin port, with the shared rules.
    JsonNode prom = services.path("prometheus");
    assertTrue(prom.path("image").asText().startsWith("prom/prometheus"), "prometheus image");
    Map<String, String> promMounts = composeMounts(prom);
    String promSource = promMounts.get(configFileArg(prom, "/etc/prometheus/prometheus.yml"));
    assertNotNull(promSource, "prometheus.yml mounted: " + promMounts);
    Path promFile = dir.resolve(promSource).normalize();
    assertEquals(dir.resolve("prometheus.yml"), promFile);
    JsonNode promConfig = readYaml(promFile);
    JsonNode job = scrapeJob(promConfig, SCRAPE_JOB);
    assertEquals("/metrics", job.path("metrics_path").asText("/metrics"));
    assertEquals(List.of("squash-proxy:" + port(cfg.admin().listen())), targets(job));

    // The rule files Prometheus loads are mounted from deploy/prometheus.
    List<String> ruleGlobs = texts(promConfig.path("rule_files"));
    assertFalse(ruleGlobs.isEmpty(), "rule_files");
    int rules = 0;
    for (Map.Entry<String, String> m : promMounts.entrySet()) {
      for (String glob : ruleGlobs) {
        PathMatcher matcher = Path.of("/").getFileSystem().getPathMatcher("glob:" + glob);
        if (matcher.matches(Path.of(m.getKey()))) {
          Path src = dir.resolve(m.getValue()).normalize();
          assertTrue(Files.isRegularFile(src), "rules file " + src);
          assertEquals(deploy.resolve("prometheus/squash-proxy.rules.yml"), src);
          rules++;
        }
      }
    }
    assertEquals(1, rules, "the rules file is mounted where rule_files looks: " + promMounts);
  }

  // --- kubernetes -------------------------------------------------------------------------------------------

  @Test
  void kubernetesManifestsAgreeWithTheConfigAndTheImage() throws Exception {
    Path dir = deploy.resolve("kubernetes");
    Map<String, JsonNode> byKind = new LinkedHashMap<>();
    List<String> manifestFiles = new ArrayList<>();
    JsonNode kustomization = null;
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        for (JsonNode d : readYamlDocs(f)) {
          String kind = d.path("kind").asText();
          if (kind.equals("Kustomization")) {
            kustomization = d;
            continue;
          }
          assertFalse(d.path("apiVersion").asText().isEmpty(), f + ": apiVersion");
          assertFalse(d.path("metadata").path("name").asText().isEmpty(), f + ": metadata.name");
          assertEquals(null, byKind.put(kind, d), "one " + kind);
          if (!manifestFiles.contains(f.getFileName().toString())) {
            manifestFiles.add(f.getFileName().toString());
          }
        }
      }
    }
    assertEquals(Set.of("ConfigMap", "Deployment", "Service", "PersistentVolumeClaim"), byKind.keySet());
    assertNotNull(kustomization, "kustomization.yaml");
    assertEquals(new TreeSet<>(manifestFiles), new TreeSet<>(texts(kustomization.path("resources"))),
        "kustomization lists every manifest");

    JsonNode configMap = byKind.get("ConfigMap");
    JsonNode deployment = byKind.get("Deployment");
    JsonNode service = byKind.get("Service");
    JsonNode pvc = byKind.get("PersistentVolumeClaim");

    // The config.
    JsonNode pod = deployment.path("spec").path("template");
    JsonNode podSpec = pod.path("spec");
    assertEquals(1, podSpec.path("containers").size(), "one container");
    JsonNode container = podSpec.path("containers").get(0);
    assertTrue(container.path("image").asText().startsWith("squash-proxy"), "image squash-proxy");
    String configKey = null;
    String configMapName = configMap.path("metadata").path("name").asText();
    for (JsonNode mount : container.path("volumeMounts")) {
      JsonNode volume = volume(podSpec, mount.path("name").asText());
      if (!volume.path("configMap").path("name").asText().equals(configMapName)) {
        continue;
      }
      String mountPath = mount.path("mountPath").asText();
      if (mount.has("subPath")) {
        if (mountPath.equals(IMAGE_CONFIG)) {
          configKey = keyForPath(volume.path("configMap"), mount.path("subPath").asText());
        }
      } else if (IMAGE_CONFIG.startsWith(mountPath + "/")) {
        configKey = keyForPath(volume.path("configMap"), IMAGE_CONFIG.substring(mountPath.length() + 1));
      }
    }
    assertNotNull(configKey, "the ConfigMap is mounted so that " + IMAGE_CONFIG + " is one of its keys");
    String configText = configMap.path("data").path(configKey).asText(null);
    assertNotNull(configText, "ConfigMap data." + configKey);
    ProxyConfig cfg = ConfigLoader.parse(configText, "kubernetes/configmap.yaml data." + configKey, Map.of());
    assertEquals("0.0.0.0:" + defaultPort(), cfg.listen());
    assertEquals("0.0.0.0:" + defaultAdminPort(), cfg.admin().listen(), "the admin port must be reachable "
        + "by the kubelet's probes and by Prometheus");

    // Every ${VAR} the config reads is given to the container.
    Set<String> env = new LinkedHashSet<>();
    container.path("env").forEach(e -> env.add(e.path("name").asText()));
    Matcher var = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)").matcher(configText);
    while (var.find()) {
      assertTrue(env.contains(var.group(1)), "${" + var.group(1) + "} is in the container's env: " + env);
    }

    // Container ports and the Service.
    Map<String, Integer> ports = new HashMap<>();
    container.path("ports").forEach(p -> ports.put(p.path("name").asText(), p.path("containerPort").asInt()));
    assertEquals(port(cfg.listen()), ports.get("registry"), "containerPort registry");
    assertEquals(port(cfg.admin().listen()), ports.get("admin"), "containerPort admin");
    Map<String, Integer> servicePorts = new HashMap<>();
    for (JsonNode p : service.path("spec").path("ports")) {
      int target = resolvePort(p.path("targetPort"), ports);
      assertEquals(p.path("port").asInt(), target, "the Service maps " + p + " to the same port");
      servicePorts.put(p.path("name").asText(), target);
    }
    assertEquals(Map.of("registry", defaultPort(), "admin", defaultAdminPort()), servicePorts);
    JsonNode podLabels = pod.path("metadata").path("labels");
    assertSelects(service.path("spec").path("selector"), podLabels, "Service");
    assertSelects(deployment.path("spec").path("selector").path("matchLabels"), podLabels, "Deployment");

    // One replica owning a ReadWriteOnce volume.
    assertEquals(1, deployment.path("spec").path("replicas").asInt());
    assertEquals("Recreate", deployment.path("spec").path("strategy").path("type").asText());

    // Probes on the admin port.
    int admin = port(cfg.admin().listen());
    assertProbe(container.path("livenessProbe"), "/healthz", admin, ports);
    assertProbe(container.path("readinessProbe"), "/readyz", admin, ports);
    if (container.has("startupProbe")) {
      assertProbe(container.path("startupProbe"), "/healthz", admin, ports);
    }

    // Resources: requests and limits for cpu and memory, requests within limits.
    JsonNode res = container.path("resources");
    for (String r : List.of("cpu", "memory")) {
      double request = quantity(res.path("requests").path(r).asText());
      double limit = quantity(res.path("limits").path(r).asText());
      assertTrue(request > 0 && limit >= request, r + ": request " + request + " within limit " + limit);
    }

    // Non-root, as the image's user, with the volume group-writable for it.
    JsonNode sc = podSpec.path("securityContext");
    assertEquals(IMAGE_UID, sc.path("runAsUser").asInt());
    assertTrue(sc.path("runAsNonRoot").asBoolean(), "runAsNonRoot");
    assertTrue(sc.has("fsGroup"), "fsGroup");
    assertFalse(container.path("securityContext").path("allowPrivilegeEscalation").asBoolean(true),
        "allowPrivilegeEscalation: false");
    if (container.path("securityContext").path("readOnlyRootFilesystem").asBoolean()) {
      assertTrue(mountPaths(container).contains("/tmp"), "a read-only root needs a writable /tmp for the JVM");
    }

    // The cache: the PVC at the config's cache.directory, large enough for cache.maxSize.
    assertEquals(Path.of(IMAGE_CACHE), cfg.cache().directory());
    JsonNode cacheMount = null;
    for (JsonNode mount : container.path("volumeMounts")) {
      if (Path.of(mount.path("mountPath").asText()).equals(cfg.cache().directory())) {
        cacheMount = mount;
      }
    }
    assertNotNull(cacheMount, "a volume mounted at cache.directory " + cfg.cache().directory());
    assertFalse(cacheMount.path("readOnly").asBoolean(), "the cache is writable");
    assertEquals(pvc.path("metadata").path("name").asText(), volume(podSpec, cacheMount.path("name").asText())
        .path("persistentVolumeClaim").path("claimName").asText(), "the cache volume is the PVC");
    double claim = quantity(pvc.path("spec").path("resources").path("requests").path("storage").asText());
    assertTrue(claim > cfg.cache().maxSize().bytes(), "PVC " + claim + " bytes > cache.maxSize "
        + cfg.cache().maxSize().bytes());

    // Prometheus' pod annotations point at the admin port's /metrics.
    JsonNode ann = pod.path("metadata").path("annotations");
    assertEquals("true", ann.path("prometheus.io/scrape").asText());
    assertEquals(Integer.toString(admin), ann.path("prometheus.io/port").asText());
    assertEquals("/metrics", ann.path("prometheus.io/path").asText());
  }

  // --- prometheus -------------------------------------------------------------------------------------------

  @Test
  void standalonePrometheusConfigScrapesTheDefaultAdminListener() throws IOException {
    Path file = deploy.resolve("prometheus/prometheus.yml");
    JsonNode config = readYaml(file);
    JsonNode job = scrapeJob(config, SCRAPE_JOB);
    assertEquals("/metrics", job.path("metrics_path").asText("/metrics"));
    assertEquals(List.of(ProxyConfig.DEFAULT_ADMIN_LISTEN), targets(job), "the default admin.listen");
    List<String> ruleFiles = texts(config.path("rule_files"));
    assertFalse(ruleFiles.isEmpty(), "rule_files");
    for (String r : ruleFiles) {
      assertTrue(Files.isRegularFile(file.resolveSibling(r)), "rule file " + r + " (relative to the config)");
    }
  }

  @Test
  void rulesUseOnlyMetricsAndLabelsTheProxyExposes() throws Exception {
    Map<String, Set<String>> exposed = scrapeRunningProxy();
    // Sanity: the names the rules are written around.
    for (String name : List.of("squash_proxy_squashes_total", "squash_proxy_squash_failures_total",
        "squash_proxy_requests_seconds_count", "squash_proxy_cache_size_bytes",
        "squash_proxy_upstream_requests_total")) {
      assertTrue(exposed.containsKey(name), name + " in /metrics: " + new TreeSet<>(exposed.keySet()));
    }

    JsonNode rules = readYaml(deploy.resolve("prometheus/squash-proxy.rules.yml"));
    Set<String> recorded = new LinkedHashSet<>();
    Set<String> alerts = new LinkedHashSet<>();
    List<String> exprs = new ArrayList<>();
    assertTrue(rules.path("groups").size() >= 2, "recording and alerting groups");
    for (JsonNode group : rules.path("groups")) {
      assertFalse(group.path("name").asText().isEmpty(), "group name");
      for (JsonNode rule : group.path("rules")) {
        String expr = rule.path("expr").asText();
        assertFalse(expr.isBlank(), "expr of " + rule);
        exprs.add(expr);
        if (rule.has("record")) {
          String name = rule.path("record").asText();
          assertTrue(name.matches("[a-z_]+:[a-z0-9_]+:[a-z0-9_]+"), "recording rule level:metric:operations: "
              + name);
          assertTrue(recorded.add(name), "recorded once: " + name);
        } else {
          String name = rule.path("alert").asText();
          assertFalse(name.isEmpty(), "a rule is either record or alert: " + rule);
          assertTrue(alerts.add(name), "alert once: " + name);
          assertTrue(Set.of("critical", "warning", "info").contains(rule.path("labels").path("severity").asText()),
              name + ": severity");
          assertFalse(rule.path("annotations").path("summary").asText().isEmpty(), name + ": summary");
        }
      }
    }
    assertTrue(alerts.size() >= 3 && recorded.size() >= 3, "a few alerting and recording rules");

    Set<String> used = new TreeSet<>();
    for (String expr : exprs) {
      for (Map.Entry<String, Set<String>> sel : selectors(expr).entrySet()) {
        String name = sel.getKey();
        used.add(name);
        if (name.equals("up")) {
          assertTrue(sel.getValue().contains("job"), "up is selected by job: " + expr);
          assertTrue(expr.contains("job=\"" + SCRAPE_JOB + "\""), "up{job=\"" + SCRAPE_JOB + "\"}: " + expr);
          continue;
        }
        if (recorded.contains(name)) {
          continue;
        }
        assertTrue(exposed.containsKey(name), "metric " + name + " (in `" + expr.strip() + "`) is not in the "
            + "proxy's /metrics, which has " + new TreeSet<>(exposed.keySet()));
        for (String label : sel.getValue()) {
          assertTrue(exposed.get(name).contains(label), name + " has no label " + label + " (it has "
              + exposed.get(name) + ")");
        }
      }
    }
    assertTrue(used.contains("squash_proxy_squash_failures_total") && used.contains("up"), "used: " + used);
  }

  /**
   * A proxy started in this JVM, on ephemeral ports, with an upstream that refuses connections; two requests
   * give the request meter its series. Returns metric name to label names, from a real scrape. Also checks
   * that the probe paths answer.
   */
  private static Map<String, Set<String>> scrapeRunningProxy() throws Exception {
    try (Scratch scratch = Scratch.create("deploy-metrics")) {
      ProxyConfig config = ConfigLoader.parse("""
          listen: 127.0.0.1:0
          admin:
            listen: 127.0.0.1:0
          upstreams:
            - name: nowhere
              url: http://127.0.0.1:9
          cache:
            directory: %s
          limits:
            connectTimeout: 2s
            requestTimeout: 5s
          """.formatted(scratch.resolve("cache")), "test", Map.of());
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      try (SquashProxy proxy = SquashProxy.start(config)) {
        String api = "http://127.0.0.1:" + proxy.address().getPort();
        String admin = "http://127.0.0.1:" + proxy.adminAddress().getPort();
        assertEquals(200, get(http, api + "/v2/").statusCode());
        int manifest = get(http, api + "/v2/demo/app/manifests/latest").statusCode();
        assertTrue(manifest >= 500, "an unreachable upstream gives a 5xx, not " + manifest);
        assertEquals(200, get(http, admin + "/healthz").statusCode(), "/healthz");
        assertEquals(200, get(http, admin + "/readyz").statusCode(), "/readyz");
        HttpResponse<String> metrics = get(http, admin + "/metrics");
        assertEquals(200, metrics.statusCode());
        return parseExposition(metrics.body());
      }
    }
  }

  private static HttpResponse<String> get(HttpClient http, String url) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Prometheus text format: sample name to the label names seen on it. */
  static Map<String, Set<String>> parseExposition(String text) {
    Map<String, Set<String>> out = new HashMap<>();
    Pattern label = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"(?:[^\"\\\\]|\\\\.)*\"");
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int brace = line.indexOf('{');
      int space = line.indexOf(' ');
      int end = brace >= 0 && brace < space ? brace : space;
      Set<String> labels = out.computeIfAbsent(line.substring(0, end), k -> new TreeSet<>());
      if (end == brace) {
        Matcher m = label.matcher(line.substring(brace, line.lastIndexOf('}') + 1));
        while (m.find()) {
          labels.add(m.group(1));
        }
      }
    }
    return out;
  }

  private static final Set<String> PROMQL_WORDS = Set.of("and", "or", "unless", "by", "without", "on",
      "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan");

  /** The series selectors of a PromQL expression: metric name to the label names it matches on. */
  static Map<String, Set<String>> selectors(String expr) {
    Map<String, Set<String>> out = new LinkedHashMap<>();
    String s = expr;
    Matcher withLabels = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*\\{([^}]*)}").matcher(s);
    StringBuilder rest = new StringBuilder();
    while (withLabels.find()) {
      Set<String> labels = out.computeIfAbsent(withLabels.group(1), k -> new TreeSet<>());
      Matcher l = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(?:=~|!~|!=|=)").matcher(withLabels.group(2));
      while (l.find()) {
        labels.add(l.group(1));
      }
      withLabels.appendReplacement(rest, " ");
    }
    withLabels.appendTail(rest);
    s = rest.toString()
        .replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", " ")                                   // strings
        .replaceAll("\\[[^]]*]", " ")                                                   // ranges
        .replaceAll("(?:\\boffset|@)\\s*-?[0-9a-z.]+", " ")                                // modifiers
        .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ") // label lists
        .replaceAll("(?<![a-zA-Z0-9_:])\\d+(\\.\\d+)?([eE][+-]?\\d+)?", " ");           // numbers
    Matcher id = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\s*\\()?").matcher(s);
    while (id.find()) {
      if (id.group(2) == null && !PROMQL_WORDS.contains(id.group(1))) {
        out.computeIfAbsent(id.group(1), k -> new TreeSet<>());
      }
    }
    return out;
  }

  @Test
  void promqlSelectorExtraction() {
    assertEquals(Map.of("squash_proxy_requests_seconds_count", Set.of("status")),
        selectors("sum by (route) (rate(squash_proxy_requests_seconds_count{status=~\"5..\"}[5m])) > 1e-9"));
    assertEquals(Set.of("a_total", "b:rec:rate5m", "up"),
        selectors("a_total > 0 and on (instance) b:rec:rate5m == bool 1 or up{job=\"x\"} offset 5m").keySet());
    assertEquals(Map.of("x_bucket", Set.of()),
        selectors("histogram_quantile(0.95, sum by (instance, le) (rate(x_bucket[30m]))) > 600"));
  }

  // --- clients ----------------------------------------------------------------------------------------------

  @Test
  void dockerDaemonJsonMirrorsToTheProxyPort() throws IOException {
    JsonNode daemon = readJson(deploy.resolve("clients/docker/daemon.json"));
    List<String> mirrors = texts(daemon.path("registry-mirrors"));
    assertEquals(1, mirrors.size(), "registry-mirrors: " + daemon);
    URI mirror = URI.create(mirrors.get(0));
    assertTrue(Set.of("http", "https").contains(mirror.getScheme()), "a URL: " + mirror);
    assertEquals(defaultPort(), mirror.getPort(), "the proxy's listen port");
    assertTrue(mirror.getPath().isEmpty() || mirror.getPath().equals("/"), "no path: " + mirror);
    assertReadme("docker", "/etc/docker/daemon.json", "Docker Hub");
  }

  @Test
  void containerdHostsTomlPullsAndResolvesThroughTheProxy() throws IOException {
    List<TomlSection> toml = parseToml(deploy.resolve("clients/containerd/hosts.toml"));
    assertEquals("https://registry-1.docker.io", toml.get(0).values().get("server"), "server (the fallback)");
    List<TomlSection> hosts = toml.stream().filter(t -> t.header().startsWith("host.")).toList();
    assertEquals(1, hosts.size(), "one [host.\"URL\"] table: " + toml);
    URI host = URI.create(hosts.get(0).header().replaceAll("^host\\.\"(.*)\"$", "$1"));
    assertEquals(defaultPort(), host.getPort(), "the proxy's listen port: " + host);
    assertEquals(List.of("pull", "resolve"), hosts.get(0).values().get("capabilities"));
    assertReadme("containerd", "/etc/containerd/certs.d/docker.io/hosts.toml", "config_path");
  }

  @Test
  void podmanRegistriesConfHasAMirrorForDockerHub() throws IOException {
    List<TomlSection> toml = parseToml(deploy.resolve("clients/podman/registries.conf"));
    List<String> headers = toml.stream().map(TomlSection::header).toList();
    assertEquals(List.of("", "[registry]", "[registry.mirror]"), headers, "sections");
    Map<String, Object> registry = toml.get(1).values();
    assertEquals("docker.io", registry.get("prefix"));
    assertEquals("docker.io", registry.get("location"));
    Map<String, Object> mirror = toml.get(2).values();
    String location = (String) mirror.get("location");
    assertTrue(location.matches("[a-z0-9.-]+:" + defaultPort()), "host:PORT of the proxy: " + location);
    assertEquals(Boolean.TRUE, mirror.get("insecure"), "plain HTTP, as the shipped configs listen");
    assertReadme("podman", "/etc/containers/registries.conf", "mirror");
  }

  private static void assertReadme(String client, String... mentions) throws IOException {
    String readme = Files.readString(deploy.resolve("clients/" + client + "/README.md"));
    for (String m : mentions) {
      assertTrue(readme.contains(m), "clients/" + client + "/README.md mentions " + m);
    }
  }

  /** One table of a TOML file: {@code ""} for the top, {@code [name]} for arrays of tables. */
  record TomlSection(String header, Map<String, Object> values) {}

  /**
   * A tiny TOML reader for the client files: tables, arrays of tables, and {@code key = value} with strings,
   * booleans, integers and one-line arrays of strings. Anything else fails the test.
   */
  static List<TomlSection> parseToml(Path file) throws IOException {
    List<TomlSection> out = new ArrayList<>();
    TomlSection current = new TomlSection("", new LinkedHashMap<>());
    out.add(current);
    Pattern kv = Pattern.compile("([A-Za-z0-9_.-]+)\\s*=\\s*(.+)");
    List<String> lines = Files.readAllLines(file);
    for (int i = 0; i < lines.size(); i++) {
      String line = stripComment(lines.get(i)).strip();
      String where = file.getFileName() + " line " + (i + 1) + ": ";
      if (line.isEmpty()) {
        continue;
      }
      if (line.startsWith("[[") && line.endsWith("]]")) {
        current = new TomlSection("[" + line.substring(2, line.length() - 2).strip() + "]", new LinkedHashMap<>());
        out.add(current);
      } else if (line.startsWith("[") && line.endsWith("]")) {
        current = new TomlSection(line.substring(1, line.length() - 1).strip(), new LinkedHashMap<>());
        out.add(current);
      } else {
        Matcher m = kv.matcher(line);
        if (!m.matches()) {
          fail(where + "not key = value: " + line);
        }
        if (current.values().put(m.group(1), tomlValue(m.group(2).strip(), where)) != null) {
          fail(where + "duplicate key " + m.group(1));
        }
      }
    }
    return out;
  }

  private static String stripComment(String line) {
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '"') {
        quoted = !quoted;
      } else if (c == '#' && !quoted) {
        return line.substring(0, i);
      }
    }
    return line;
  }

  private static Object tomlValue(String v, String where) {
    if (v.matches("\"[^\"\\\\]*\"")) {
      return v.substring(1, v.length() - 1);
    }
    if (v.equals("true") || v.equals("false")) {
      return Boolean.parseBoolean(v);
    }
    if (v.matches("-?\\d+")) {
      return Long.parseLong(v);
    }
    if (v.matches("\\[\\s*(\"[^\"\\\\]*\"\\s*,\\s*)*(\"[^\"\\\\]*\"\\s*,?\\s*)?]")) {
      List<String> items = new ArrayList<>();
      Matcher m = Pattern.compile("\"([^\"\\\\]*)\"").matcher(v);
      while (m.find()) {
        items.add(m.group(1));
      }
      return items;
    }
    fail(where + "unsupported value " + v);
    return null;
  }

  @Test
  void tomlReader() throws IOException {
    try (Scratch s = Scratch.create("toml")) {
      Path f = s.resolve("t.toml");
      Files.writeString(f, "a = \"x # not a comment\" # comment\n[t.\"http://h:1\"]\n  c = [\"p\", \"r\"]\n"
          + "[[r]]\nb = true\nn = 5\n");
      List<TomlSection> t = parseToml(f);
      assertEquals("x # not a comment", t.get(0).values().get("a"));
      assertEquals("t.\"http://h:1\"", t.get(1).header());
      assertEquals(List.of("p", "r"), t.get(1).values().get("c"));
      assertEquals("[r]", t.get(2).header());
      assertEquals(Map.of("b", true, "n", 5L), t.get(2).values());
    }
  }

  // --- demo and docs ----------------------------------------------------------------------------------------

  @Test
  void demoScriptIsStrictBashAndDocumented() throws IOException {
    Path demo = deploy.resolve("demo.sh");
    String text = Files.readString(demo);
    assertTrue(text.startsWith("#!/usr/bin/env bash\n"), "bash shebang");
    assertTrue(text.contains("\nset -euo pipefail\n"), "set -euo pipefail");
    assertTrue(text.contains("trap cleanup EXIT"), "stops what it started on any exit");
    assertTrue(Files.isExecutable(demo), "demo.sh is executable");
    Proc.Result syntax = Proc.of("bash", "-n", demo.toString()).run();
    assertEquals(0, syntax.exitCode(), "bash -n: " + syntax.describe());
    String readme = Files.readString(deploy.resolve("README.md"));
    for (String m : List.of("demo.sh", "compose/compose.yaml", "kubernetes/", "prometheus/", "clients/")) {
      assertTrue(readme.contains(m), "deploy/README.md mentions " + m);
    }
  }

  // --- helpers ----------------------------------------------------------------------------------------------

  /** The Dockerfile compose builds (the repository's, by deploy/container's developer): the image's contract. */
  private static void checkDockerfile(Path dockerfile) throws IOException {
    assertTrue(Files.isRegularFile(dockerfile), "compose builds " + dockerfile + ", which must exist");
    String text = Files.readString(dockerfile);
    assertTrue(text.contains(IMAGE_CONFIG), dockerfile + " reads its config from " + IMAGE_CONFIG);
    assertTrue(text.contains(Integer.toString(IMAGE_UID)), dockerfile + " runs as uid " + IMAGE_UID);
    assertTrue(Pattern.compile("(?m)^VOLUME .*\"" + IMAGE_CACHE + "\"").matcher(text).find()
        || Pattern.compile("(?m)^VOLUME\\s+" + IMAGE_CACHE + "\\s*$").matcher(text).find(),
        dockerfile + " declares the volume " + IMAGE_CACHE);
  }

  private static ProxyConfig load(Path file) {
    try {
      return ConfigLoader.parse(Files.readString(file), deploy.relativize(file).toString(), Map.of());
    } catch (ConfigException e) {
      throw new AssertionError(e.getMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static int defaultPort() {
    return port(ProxyConfig.DEFAULT_LISTEN);
  }

  private static int defaultAdminPort() {
    return port(ProxyConfig.DEFAULT_ADMIN_LISTEN);
  }

  private static int port(String hostPort) {
    return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
  }

  private static JsonNode readJson(Path f) throws IOException {
    try {
      return JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new AssertionError(f + ": " + e.getMessage(), e);
    }
  }

  private static JsonNode readYaml(Path f) throws IOException {
    List<JsonNode> docs = readYamlDocs(f);
    assertEquals(1, docs.size(), f + ": one document");
    return docs.get(0);
  }

  private static List<JsonNode> readYamlDocs(Path f) throws IOException {
    List<JsonNode> docs = new ArrayList<>();
    try (var it = YAML.readerFor(JsonNode.class).readValues(f.toFile())) {
      while (it.hasNextValue()) {
        JsonNode d = (JsonNode) it.nextValue();
        if (d != null && !d.isNull() && !d.isMissingNode()) {
          docs.add(d);
        }
      }
    } catch (IOException | RuntimeException e) {
      throw new AssertionError(f + ": " + e.getMessage(), e);
    }
    return docs;
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  /** A compose service's short-syntax volumes: target path to source (a path or a named volume). */
  private static Map<String, String> composeMounts(JsonNode service) {
    Map<String, String> out = new LinkedHashMap<>();
    for (JsonNode v : service.path("volumes")) {
      if (v.isObject()) {
        out.put(v.path("target").asText(), v.path("source").asText());
      } else {
        String[] parts = v.asText().split(":");
        assertTrue(parts.length >= 2, "volume SOURCE:TARGET[:MODE]: " + v);
        out.put(parts[1], parts[0]);
      }
    }
    return out;
  }

  /** The container ports of a compose service's {@code ports} ("[IP:]HOST:CONTAINER[/proto]"). */
  private static Set<Integer> composeContainerPorts(JsonNode service) {
    Set<Integer> out = new LinkedHashSet<>();
    for (JsonNode p : service.path("ports")) {
      if (p.isObject()) {
        out.add(p.path("target").asInt());
      } else {
        String s = p.asText().replaceAll("/(tcp|udp)$", "");
        out.add(Integer.parseInt(s.substring(s.lastIndexOf(':') + 1)));
      }
    }
    return out;
  }

  /** The --config.file a prometheus service runs with (its image's default when not given). */
  private static String configFileArg(JsonNode service, String fallback) {
    for (JsonNode arg : service.path("command")) {
      if (arg.asText().startsWith("--config.file=")) {
        return arg.asText().substring("--config.file=".length());
      }
    }
    return fallback;
  }

  private static JsonNode scrapeJob(JsonNode prometheusConfig, String name) {
    for (JsonNode job : prometheusConfig.path("scrape_configs")) {
      if (job.path("job_name").asText().equals(name)) {
        return job;
      }
    }
    throw new AssertionError("no scrape job " + name + " in " + prometheusConfig);
  }

  private static List<String> targets(JsonNode job) {
    List<String> out = new ArrayList<>();
    job.path("static_configs").forEach(sc -> out.addAll(texts(sc.path("targets"))));
    return out;
  }

  private static JsonNode volume(JsonNode podSpec, String name) {
    for (JsonNode v : podSpec.path("volumes")) {
      if (v.path("name").asText().equals(name)) {
        return v;
      }
    }
    throw new AssertionError("no volume " + name + " in the pod");
  }

  /** The ConfigMap key a file name in a configMap volume shows (through {@code items} when given). */
  private static String keyForPath(JsonNode configMapVolume, String path) {
    if (!configMapVolume.has("items")) {
      return path;
    }
    for (JsonNode item : configMapVolume.path("items")) {
      if (item.path("path").asText().equals(path)) {
        return item.path("key").asText();
      }
    }
    return null;
  }

  private static Set<String> mountPaths(JsonNode container) {
    Set<String> out = new LinkedHashSet<>();
    container.path("volumeMounts").forEach(m -> out.add(m.path("mountPath").asText()));
    return out;
  }

  private static int resolvePort(JsonNode port, Map<String, Integer> named) {
    if (port.isInt()) {
      return port.asInt();
    }
    Integer p = named.get(port.asText());
    assertNotNull(p, "named port " + port + " is a container port: " + named);
    return p;
  }

  private static void assertProbe(JsonNode probe, String path, int port, Map<String, Integer> named) {
    assertFalse(probe.isMissingNode(), "probe for " + path);
    JsonNode get = probe.path("httpGet");
    assertEquals(path, get.path("path").asText(), "probe path");
    assertEquals(port, resolvePort(get.path("port"), named), "probe " + path + " on the admin port");
  }

  private static void assertSelects(JsonNode selector, JsonNode labels, String who) {
    assertTrue(selector.size() > 0, who + " has a selector");
    selector.fields().forEachRemaining(e -> assertEquals(e.getValue().asText(), labels.path(e.getKey()).asText(),
        who + " selector " + e.getKey() + " matches the pod's labels"));
  }

  /** A Kubernetes quantity (500m, 2, 768Mi, 25Gi, 1G) as a number. */
  static double quantity(String q) {
    Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?").matcher(q);
    assertTrue(m.matches(), "a quantity: '" + q + "'");
    double v = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "" : m.group(2);
    return v * switch (unit) {
      case "m" -> 1e-3;
      case "k" -> 1e3;
      case "M" -> 1e6;
      case "G" -> 1e9;
      case "T" -> 1e12;
      case "Ki" -> 1024.0;
      case "Mi" -> 1024.0 * 1024;
      case "Gi" -> 1024.0 * 1024 * 1024;
      case "Ti" -> 1024.0 * 1024 * 1024 * 1024;
      default -> 1.0;
    };
  }
}
