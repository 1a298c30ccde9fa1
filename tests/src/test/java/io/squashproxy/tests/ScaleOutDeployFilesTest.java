package io.squashproxy.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.squashproxy.config.ConfigLoader;
import io.squashproxy.config.ProxyConfig;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * The scaled deploy files (deploy/kubernetes-scaled, deploy/compose-scaled) against the code: the configs load
 * with {@link ConfigLoader} using exactly the variables the manifests provide, use a shared bucket, and the
 * ports, probes, selectors, the autoscaler's target and nginx's upstreams agree with them.
 */
class ScaleOutDeployFilesTest {
  private static final String IMAGE_CONFIG = "/etc/squash-proxy/config.yaml";
  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();
  private static final Pattern VAR = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?}");

  private static Path deploy;

  @BeforeAll
  static void locate() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("deploy/kubernetes-scaled"))) {
      dir = dir.getParent();
    }
    assertNotNull(dir, "no deploy/kubernetes-scaled above " + Path.of("").toAbsolutePath());
    deploy = dir.resolve("deploy");
  }

  @Test
  void kubernetesRunsThreeReplicasOnOneBucketWithAnAutoscalerAndAntiAffinity() throws Exception {
    Path dir = deploy.resolve("kubernetes-scaled");
    Map<String, JsonNode> byKind = new LinkedHashMap<>();
    for (String file : texts(yaml(dir.resolve("kustomization.yaml")).path("resources"))) {
      for (JsonNode d : docs(dir.resolve(file))) {
        assertEquals(null, byKind.put(d.path("kind").asText(), d), "one " + d.path("kind"));
      }
    }
    assertEquals(Set.of("ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"),
        byKind.keySet());
    JsonNode deployment = byKind.get("Deployment");
    JsonNode pod = deployment.path("spec").path("template");
    JsonNode podSpec = pod.path("spec");
    JsonNode container = podSpec.path("containers").get(0);
    JsonNode podLabels = pod.path("metadata").path("labels");

    // The config, with the variables the pod gets: the Secret's keys (envFrom) and the env entries.
    JsonNode secret = yaml(dir.resolve("secret.example.yaml"));
    assertEquals("Secret", secret.path("kind").asText());
    Map<String, String> env = new HashMap<>();
    boolean secretUsed = false;
    for (JsonNode from : container.path("envFrom")) {
      if (from.path("secretRef").path("name").asText().equals(secret.path("metadata").path("name").asText())) {
        secretUsed = true;
        secret.path("stringData").fields().forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
      }
    }
    assertTrue(secretUsed, "the pod reads the S3 Secret with envFrom");
    container.path("env").forEach(e -> env.put(e.path("name").asText(), "x"));
    JsonNode configMap = byKind.get("ConfigMap");
    String configMapName = configMap.path("metadata").path("name").asText();
    JsonNode configVolume = null;
    for (JsonNode v : podSpec.path("volumes")) {
      if (v.path("configMap").path("name").asText().equals(configMapName)) {
        configVolume = v;
      }
    }
    assertNotNull(configVolume, "the ConfigMap is a volume");
    String mountPath = null;
    for (JsonNode m : container.path("volumeMounts")) {
      if (m.path("name").asText().equals(configVolume.path("name").asText())) {
        mountPath = m.path("mountPath").asText();
      }
    }
    assertEquals(Path.of(IMAGE_CONFIG).getParent().toString(), mountPath);
    String configText = configMap.path("data").path("config.yaml").asText();
    Matcher vars = VAR.matcher(configText);
    while (vars.find()) {
      assertTrue(vars.group(2) != null || env.containsKey(vars.group(1)),
          "${" + vars.group(1) + "} without a default is given to the pod: " + env.keySet());
    }
    ProxyConfig cfg = ConfigLoader.parse(configText, "kubernetes-scaled/configmap.yaml", env);
    assertNotNull(cfg.storage().s3(), "replicas share a bucket");
    assertEquals(env.get("SQUASH_S3_BUCKET"), cfg.storage().s3().bucket());

    // Replicas, the autoscaler, the disruption budget, spreading.
    int replicas = deployment.path("spec").path("replicas").asInt();
    assertEquals(3, replicas);
    JsonNode hpa = byKind.get("HorizontalPodAutoscaler").path("spec");
    assertEquals("Deployment", hpa.path("scaleTargetRef").path("kind").asText());
    assertEquals(deployment.path("metadata").path("name").asText(), hpa.path("scaleTargetRef").path("name").asText());
    assertEquals(replicas, hpa.path("minReplicas").asInt());
    assertTrue(hpa.path("maxReplicas").asInt() > replicas);
    assertFalse(container.path("resources").path("requests").path("cpu").isMissingNode(),
        "CPU utilisation needs a CPU request");
    JsonNode pdb = byKind.get("PodDisruptionBudget").path("spec");
    assertTrue(pdb.path("minAvailable").asInt() < replicas, "a drain can proceed");
    assertSelects(pdb.path("selector").path("matchLabels"), podLabels, "PodDisruptionBudget");
    JsonNode anti = podSpec.path("affinity").path("podAntiAffinity");
    List<JsonNode> terms = new ArrayList<>();
    anti.path("requiredDuringSchedulingIgnoredDuringExecution").forEach(terms::add);
    anti.path("preferredDuringSchedulingIgnoredDuringExecution").forEach(t -> terms.add(t.path("podAffinityTerm")));
    assertTrue(terms.stream().anyMatch(t -> t.path("topologyKey").asText().equals("kubernetes.io/hostname")),
        "anti-affinity per node: " + anti);
    for (JsonNode t : terms) {
      assertSelects(t.path("labelSelector").path("matchLabels"), podLabels, "anti-affinity");
    }

    // Ports, Service and probes agree with the config.
    Map<String, Integer> ports = new HashMap<>();
    container.path("ports").forEach(p -> ports.put(p.path("name").asText(), p.path("containerPort").asInt()));
    assertEquals(port(cfg.listen()), ports.get("registry"));
    assertEquals(port(cfg.admin().listen()), ports.get("admin"));
    assertSelects(byKind.get("Service").path("spec").path("selector"), podLabels, "Service");
    assertEquals("/healthz", container.path("livenessProbe").path("httpGet").path("path").asText());
    assertEquals("/readyz", container.path("readinessProbe").path("httpGet").path("path").asText());
    assertEquals("admin", container.path("readinessProbe").path("httpGet").path("port").asText());

    // The local tier: an emptyDir larger than cache.maxSize at cache.directory (nothing there is precious).
    JsonNode cacheVolume = null;
    for (JsonNode m : container.path("volumeMounts")) {
      if (Path.of(m.path("mountPath").asText()).equals(cfg.cache().directory())) {
        for (JsonNode v : podSpec.path("volumes")) {
          if (v.path("name").asText().equals(m.path("name").asText())) {
            cacheVolume = v;
          }
        }
      }
    }
    assertNotNull(cacheVolume, "a volume at cache.directory");
    double limit = DeployFilesTest.quantity(cacheVolume.path("emptyDir").path("sizeLimit").asText());
    assertTrue(limit > cfg.cache().maxSize().bytes(), "emptyDir sizeLimit above cache.maxSize");
  }

  @Test
  void composeRunsThreeReplicasBehindNginxOnAMinioBucket() throws Exception {
    Path dir = deploy.resolve("compose-scaled");
    JsonNode compose = yaml(dir.resolve("compose.yaml"));
    JsonNode services = compose.path("services");
    List<String> replicaNames = new ArrayList<>();
    services.fieldNames().forEachRemaining(n -> {
      if (n.startsWith("squash-proxy")) {
        replicaNames.add(n);
      }
    });
    assertEquals(3, replicaNames.size(), "three replicas: " + replicaNames);
    Set<Integer> listenPorts = new TreeSet<>();
    Set<String> bucketsUsed = new TreeSet<>();
    for (String name : replicaNames) {
      JsonNode r = services.path(name);
      Map<String, String> mounts = new HashMap<>();
      for (JsonNode v : r.path("volumes")) {
        String[] parts = v.asText().split(":");
        mounts.put(parts[1], parts[0]);
      }
      String config = mounts.get(IMAGE_CONFIG);
      assertNotNull(config, name + " mounts its config at " + IMAGE_CONFIG);
      Map<String, String> env = new HashMap<>();
      r.path("environment").fields().forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
      ProxyConfig cfg = ConfigLoader.load(dir.resolve(config).normalize(), env);
      assertNotNull(cfg.storage().s3(), name + " uses the shared bucket");
      bucketsUsed.add(cfg.storage().s3().bucket());
      assertTrue(compose.path("volumes").has(mounts.get(cfg.cache().directory().toString())),
          name + ": its own named volume at cache.directory");
      URI endpoint = URI.create(cfg.storage().s3().endpoint());
      assertTrue(services.has(endpoint.getHost()), "the S3 endpoint is a service: " + endpoint);
      listenPorts.add(port(cfg.listen()));
    }
    assertEquals(1, bucketsUsed.size(), "one bucket for all: " + bucketsUsed);
    assertEquals(1, listenPorts.size());
    String bucket = bucketsUsed.iterator().next();
    assertTrue(services.path("create-bucket").toString().contains("local/" + bucket), "the bucket is created");

    // nginx: round-robin over exactly the replicas, on their listen port, streaming, skipping dead ones.
    JsonNode nginx = services.path("nginx");
    String conf = Files.readString(dir.resolve("nginx.conf"));
    assertTrue(nginx.path("volumes").toString().contains("./nginx.conf:/etc/nginx/nginx.conf"));
    Set<String> upstream = new TreeSet<>();
    Matcher m = Pattern.compile("(?m)^\\s*server\\s+([\\w.-]+):(\\d+)").matcher(conf);
    while (m.find()) {
      upstream.add(m.group(1));
      assertEquals(listenPorts.iterator().next(), Integer.parseInt(m.group(2)), "nginx targets the listen port");
    }
    assertEquals(new TreeSet<>(replicaNames), upstream);
    for (String directive : List.of("proxy_buffering off", "proxy_next_upstream error timeout http_502",
        "client_max_body_size 0")) {
      assertTrue(conf.contains(directive), "nginx.conf: " + directive);
    }
    Matcher listen = Pattern.compile("listen\\s+(\\d+);").matcher(conf);
    assertTrue(listen.find());
    String published = nginx.path("ports").get(0).asText();
    assertTrue(published.endsWith(":" + listen.group(1)), "nginx publishes its listen port: " + published);
  }

  private static void assertSelects(JsonNode selector, JsonNode labels, String what) {
    assertFalse(selector.isEmpty(), what + " has a selector");
    selector.fields().forEachRemaining(e -> assertEquals(e.getValue().asText(), labels.path(e.getKey()).asText(),
        what + " selects the pods by " + e.getKey()));
  }

  private static int port(String hostPort) {
    return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static JsonNode yaml(Path f) throws IOException {
    List<JsonNode> d = docs(f);
    assertEquals(1, d.size(), f + ": one document");
    return d.get(0);
  }

  private static List<JsonNode> docs(Path f) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    try (var it = YAML.readerFor(JsonNode.class).readValues(f.toFile())) {
      while (it.hasNextValue()) {
        JsonNode d = (JsonNode) it.nextValue();
        if (d != null && !d.isNull() && !d.isMissingNode()) {
          out.add(d);
        }
      }
    }
    return out;
  }
}
