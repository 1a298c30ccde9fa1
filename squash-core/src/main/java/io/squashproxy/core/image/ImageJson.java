package io.squashproxy.core.image;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * The one JSON mapper for image documents. Trees keep field order and exact numbers, so a document we
 * rewrite keeps every field we do not touch, and the same tree always serialises to the same bytes.
 */
public final class ImageJson {
  public static final ObjectMapper MAPPER = JsonMapper.builder()
      .nodeFactory(JsonNodeFactory.withExactBigDecimals(true))
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
      .build();

  private ImageJson() {}

  /** Parses a JSON object; {@code what} names the document in the error. */
  public static ObjectNode parseObject(byte[] json, String what) throws InvalidImageException {
    JsonNode node;
    try {
      node = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new InvalidImageException(what + " is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new InvalidImageException(what + " could not be read: " + e.getMessage(), e);
    }
    if (node == null || !node.isObject()) {
      throw new InvalidImageException(what + " is not a JSON object");
    }
    return (ObjectNode) node;
  }

  /** Compact, deterministic serialisation. */
  public static byte[] write(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise JSON tree", e);
    }
  }
}
