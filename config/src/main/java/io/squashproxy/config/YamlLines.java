package io.squashproxy.config;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds where a key path ({@code squash.rules[0].keep}) is written in YAML text, so every config error can
 * name the key's own line and column. Jackson's own location is where its parser stopped, which is the
 * token after the offending one (often the next line), so it is not used for keys. Block style is walked by
 * indentation: a mapping's keys all start at one column, a sequence's items at one dash column. Flow parts
 * ({@code retry: {maxDelay: 1s}}) are searched on their line; an item of a flow list resolves to its list.
 */
final class YamlLines {
  private static final Pattern SEGMENT = Pattern.compile("([^.\\[\\]]+)|\\[(\\d+)]");

  /** 1-based line and column. */
  record Position(int line, int column) {
    @Override
    public String toString() {
      return "line " + line + ", column " + column;
    }
  }

  private final String[] lines;

  YamlLines(String text) {
    this.lines = text.split("\n", -1);
  }

  /** Where {@code path} is written, or its deepest ancestor that is; null when not even its first key is. */
  Position positionOf(String path) {
    List<Object> segments = new ArrayList<>();
    Matcher m = SEGMENT.matcher(path);
    while (m.find()) {
      segments.add(m.group(1) != null ? m.group(1) : Integer.valueOf(m.group(2)));
    }
    Position found = null;
    // The block scope being searched: lines [from, to), keys of its mapping at keyColumn (-1: not known yet).
    int from = 0;
    int to = lines.length;
    int keyColumn = -1;
    int minIndent = 0;
    for (Object seg : segments) {
      if (found != null && flowStartsAfter(found)) {
        if (seg instanceof Integer) {
          return found; // an item of a flow list: its list is as close as a line search gets
        }
        Position inFlow = flowKey((String) seg, found);
        if (inFlow == null) {
          return found;
        }
        found = inFlow;
        continue;
      }
      if (seg instanceof Integer index) {
        int at = item(index, from, to, minIndent);
        if (at < 0) {
          return found;
        }
        int dash = indentOf(at);
        found = new Position(at + 1, dash + 1);
        int content = contentAfterDashes(at, dash);
        from = at;
        to = scopeEnd(at, dash, to, false);
        keyColumn = content;
        minIndent = dash + 1;
      } else {
        int at = key((String) seg, from, to, keyColumn, minIndent);
        if (at < 0) {
          return found;
        }
        int column = contentAfterDashes(at, indentOf(at));
        found = new Position(at + 1, column + 1);
        from = at + 1;
        to = scopeEnd(at, column, to, true);
        keyColumn = -1;
        minIndent = column + 1;
      }
    }
    return found;
  }

  /** The line of key {@code name} among this mapping's keys, or -1. */
  private int key(String name, int from, int to, int keyColumn, int minIndent) {
    int column = keyColumn;
    for (int i = from; i < to; i++) {
      if (isBlankOrComment(i)) {
        continue;
      }
      int at = contentAfterDashes(i, indentOf(i));
      if (column < 0 && at >= minIndent) {
        column = at; // the first key of a block mapping fixes its column
      }
      if (at == column && startsWithKey(lines[i], at, name)) {
        return i;
      }
    }
    return -1;
  }

  private int item(int index, int from, int to, int minIndent) {
    int seen = -1;
    int dashColumn = -1;
    for (int i = from; i < to; i++) {
      if (isBlankOrComment(i)) {
        continue;
      }
      int indent = indentOf(i);
      if (isDash(lines[i], indent) && indent >= minIndent - 1 && (dashColumn < 0 || indent == dashColumn)) {
        dashColumn = indent;
        if (++seen == index) {
          return i;
        }
      }
    }
    return -1;
  }

  private static boolean startsWithKey(String line, int at, String name) {
    for (String written : List.of(name, "\"" + name + "\"", "'" + name + "'")) {
      if (line.startsWith(written, at)) {
        int after = at + written.length();
        while (after < line.length() && line.charAt(after) == ' ') {
          after++;
        }
        if (after < line.length() && line.charAt(after) == ':'
            && (after + 1 == line.length() || line.charAt(after + 1) == ' ')) {
          return true;
        }
      }
    }
    return false;
  }

  /** Whether the value of the key or item at {@code p} is a flow mapping on the same line. */
  private boolean flowStartsAfter(Position p) {
    String line = lines[p.line() - 1];
    int colon = line.indexOf(':', p.column() - 1);
    if (colon < 0) {
      return false;
    }
    String rest = line.substring(colon + 1).stripLeading();
    return rest.startsWith("{") || rest.startsWith("[");
  }

  private Position flowKey(String name, Position after) {
    String line = lines[after.line() - 1];
    Matcher m = Pattern.compile("[{,]\\s*[\"']?(" + Pattern.quote(name) + ")[\"']?\\s*:").matcher(line);
    if (m.find(after.column())) {
      return new Position(after.line(), m.start(1) + 1);
    }
    return null;
  }

  /** The column after any {@code "- "} prefixes: where a key on that line starts. */
  private int contentAfterDashes(int i, int indent) {
    String line = lines[i];
    int at = indent;
    while (isDash(line, at)) {
      at++;
      while (at < line.length() && line.charAt(at) == ' ') {
        at++;
      }
    }
    return at;
  }

  private static boolean isDash(String line, int at) {
    return line.startsWith("-", at) && (at + 1 == line.length() || line.charAt(at + 1) == ' ');
  }

  private boolean isBlankOrComment(int i) {
    String t = lines[i].strip();
    return t.isEmpty() || t.startsWith("#") || t.equals("---");
  }

  private int indentOf(int i) {
    String line = lines[i];
    int n = 0;
    while (n < line.length() && line.charAt(n) == ' ') {
      n++;
    }
    return n;
  }

  /**
   * Where the block under the line {@code at} ends: the next line at or left of {@code limit}; a key's
   * block also holds a sequence written at the key's own column ({@code key:\n- item}).
   */
  private int scopeEnd(int at, int limit, int to, boolean isKey) {
    for (int i = at + 1; i < to; i++) {
      if (isBlankOrComment(i)) {
        continue;
      }
      int indent = indentOf(i);
      if (indent < limit || indent == limit && !(isKey && isDash(lines[i], indent))) {
        return i;
      }
    }
    return to;
  }
}
