package io.squashproxy.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Loads a YAML config: {@code ${VAR}} and {@code ${VAR:-default}} are replaced from the environment
 * first (for secrets), unknown keys and wrong types are refused, and every error names the file, the key
 * and the line and column where that key is written.
 */
public final class ConfigLoader {
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?}");

  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
      .disable(com.fasterxml.jackson.databind.MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .addModule(new SimpleModule().addDeserializer(Duration.class, new DurationDeserializer()))
      .build();

  private ConfigLoader() {}

  public static ProxyConfig load(Path file) throws ConfigException {
    return load(file, System.getenv());
  }

  public static ProxyConfig load(Path file, Map<String, String> env) throws ConfigException {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file");
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read: " + e.getMessage());
    }
    return parse(text, file.toString(), env);
  }

  public static ProxyConfig parse(String text, String source, Map<String, String> env) throws ConfigException {
    String substituted = substitute(text, source, env);
    if (substituted.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
      return ProxyConfig.defaults();
    }
    // Positions come from the text as written, so they match what the reader's editor shows.
    YamlLines where = new YamlLines(text);
    ProxyConfig raw;
    try {
      raw = YAML.readValue(substituted, ProxyConfig.class);
    } catch (JsonMappingException e) {
      throw new ConfigException(source + describe(e, where));
    } catch (JsonProcessingException e) {
      JsonLocation loc = e.getLocation();
      throw new ConfigException(source + (loc == null ? "" : " line " + loc.getLineNr()) + ": invalid YAML: "
          + e.getOriginalMessage());
    }
    ProxyConfig config = (raw == null ? ProxyConfig.defaults() : raw.withDefaults());
    var problems = config.problems();
    if (!problems.isEmpty()) {
      String first = problems.get(0);
      int colon = first.indexOf(": ");
      YamlLines.Position at = colon < 0 ? null : where.positionOf(first.substring(0, colon));
      throw new ConfigException(source + (at == null ? "" : " " + at) + ": " + String.join("; ", problems));
    }
    return config;
  }

  private static String describe(JsonMappingException e, YamlLines where) {
    String key = e.getPath().stream()
        .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
        .collect(Collectors.joining(".")).replace(".[", "[");
    YamlLines.Position at = key.isEmpty() ? null : where.positionOf(key);
    JsonLocation loc = e.getLocation();
    String line = at != null ? " " + at : loc == null || loc.getLineNr() < 0 ? "" : " line " + loc.getLineNr();
    String problem = e.getOriginalMessage();
    if (e instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException u) {
      problem = "unknown key '" + u.getPropertyName() + "'";
    } else if (e.getCause() instanceof IllegalArgumentException iae) {
      problem = iae.getMessage();
    } else if (problem != null && problem.indexOf('\n') > 0) {
      problem = problem.substring(0, problem.indexOf('\n'));
    }
    return line + ": " + (key.isEmpty() ? "" : key + ": ") + problem;
  }

  private static String substitute(String text, String source, Map<String, String> env) throws ConfigException {
    StringBuilder out = new StringBuilder();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      if (line.stripLeading().startsWith("#")) {
        out.append(line);
      } else {
        Matcher m = VARIABLE.matcher(line);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
          String value = env.get(m.group(1));
          if (value == null) {
            value = m.group(2);
          }
          if (value == null) {
            throw new ConfigException(source + " line " + (i + 1) + ": environment variable " + m.group(1)
                + " is not set");
          }
          m.appendReplacement(sb, Matcher.quoteReplacement(value));
        }
        m.appendTail(sb);
        out.append(sb);
      }
      if (i < lines.length - 1) {
        out.append('\n');
      }
    }
    return out.toString();
  }

  private static final class DurationDeserializer extends JsonDeserializer<Duration> {
    @Override
    public Duration deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
      try {
        return Durations.parse(p.getValueAsString());
      } catch (IllegalArgumentException e) {
        throw JsonMappingException.from(p, e.getMessage(), e);
      }
    }
  }
}
