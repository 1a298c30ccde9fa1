package io.squashproxy.config;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the line of a key path ({@code squash.rules[0].keep}) in block-style YAML text, so errors found
 * after parsing (impossible values) can name their line too. Flow-style parts ({@code {a: 1}}) resolve to
 * the line of the nearest key found.
 */
final class YamlLines {
  private static final Pattern SEGMENT = Pattern.compile("([^.\\[\\]]+)|\\[(\\d+)]");

  private final String[] lines;

  YamlLines(String text) {
    this.lines = text.split("\n", -1);
  }

  /** The 1-based line of {@code path}, or of its deepest ancestor found; -1 when nothing matches. */
  int lineOf(String path) {
    List<Object> segments = new ArrayList<>();
    Matcher m = SEGMENT.matcher(path);
    while (m.find()) {
      segments.add(m.group(1) != null ? m.group(1) : Integer.valueOf(m.group(2)));
    }
    int found = -1;
    int from = 0;
    int to = lines.length;
    int parentIndent = -1;
    for (Object seg : segments) {
      boolean isItem = seg instanceof Integer;
      int at = isItem ? item((Integer) seg, from, to, parentIndent) : key((String) seg, from, to, parentIndent);
      if (at < 0) {
        return found;
      }
      found = at + 1;
      int dash = indentOf(at);
      // A list item spans until the next line at or left of its dash; a key until the next at or left of it.
      int limit = isItem ? dash : dash + (lines[at].startsWith("- ", dash) ? 2 : 0);
      from = isItem ? at : at + 1;
      to = scopeEnd(at, limit, to);
      parentIndent = isItem ? dash : limit;
    }
    return found;
  }

  private int key(String name, int from, int to, int parentIndent) {
    for (int i = from; i < to; i++) {
      String line = lines[i];
      int indent = indentOf(i);
      String body = line.substring(Math.min(indent, line.length()));
      if (body.startsWith("- ")) {
        indent += 2;
        body = body.substring(2).stripLeading();
      }
      if (indent > parentIndent && (body.startsWith(name + ":") || body.startsWith("\"" + name + "\":"))) {
        return i;
      }
    }
    return -1;
  }

  private int item(int index, int from, int to, int parentIndent) {
    int seen = -1;
    int itemIndent = -1;
    for (int i = from; i < to; i++) {
      int indent = indentOf(i);
      String body = lines[i].substring(Math.min(indent, lines[i].length()));
      if (body.startsWith("- ") && indent > parentIndent && (itemIndent < 0 || indent == itemIndent)) {
        itemIndent = indent;
        if (++seen == index) {
          return i;
        }
      }
    }
    return -1;
  }

  private int indentOf(int i) {
    String line = lines[i];
    int n = 0;
    while (n < line.length() && line.charAt(n) == ' ') {
      n++;
    }
    return n;
  }

  private int scopeEnd(int at, int limit, int to) {
    for (int i = at + 1; i < to; i++) {
      String t = lines[i].strip();
      if (t.isEmpty() || t.startsWith("#")) {
        continue;
      }
      if (indentOf(i) <= limit) {
        return i;
      }
    }
    return to;
  }
}
