package io.squashproxy.core.layer;

/**
 * Canonical member paths. Layers name the same file {@code ./etc/passwd}, {@code etc/passwd} or
 * {@code etc//passwd}; the merge compares canonical forms: relative, no {@code .} segments, no empty
 * segments, no trailing slash, and "" for the root.
 */
public final class EntryPaths {
  private EntryPaths() {}

  /**
   * Cleans a member name. Absolute names and names whose {@code ..} segments climb out of the root are
   * refused, because an extractor that honoured them would write outside the container's root.
   *
   * @throws IllegalArgumentException with the reason
   */
  public static String clean(String name) {
    if (name.startsWith("/")) {
      throw new IllegalArgumentException("absolute path");
    }
    String[] parts = name.split("/", -1);
    StringBuilder out = new StringBuilder(name.length());
    java.util.ArrayDeque<Integer> marks = new java.util.ArrayDeque<>();
    for (String part : parts) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        if (marks.isEmpty()) {
          throw new IllegalArgumentException("path escapes the root with '..'");
        }
        out.setLength(marks.pop());
        continue;
      }
      marks.push(out.length());
      if (out.length() > 0) {
        out.append('/');
      }
      out.append(part);
    }
    // Cleaning only ever drops characters: the same length is the same name. Returning it keeps one copy
    // of each path in the heap, where the squash holds every path of an image (issue #14).
    return out.length() == name.length() ? name : out.toString();
  }

  /** The parent of a cleaned path; "" for a top-level name; null for the root itself. */
  public static String parent(String path) {
    if (path.isEmpty()) {
      return null;
    }
    int slash = path.lastIndexOf('/');
    return slash < 0 ? "" : path.substring(0, slash);
  }

  public static String baseName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  public static String child(String dir, String name) {
    return dir.isEmpty() ? name : dir + "/" + name;
  }
}
