package io.squashproxy.core.estargz;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * The eStargz table of contents as JSON, byte for byte what the Go {@code estargz} package writes for the same
 * entries ({@code json.MarshalIndent(toc, "", "\t")}): fields in the order of its {@code TOCEntry} struct, empty
 * ones left out, strings escaped as {@code encoding/json} does (HTML characters too), xattr values in base64 and
 * their names sorted by bytes. The same entries always give the same bytes (the TOC digest goes in the manifest).
 */
final class TocJson {
  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  private TocJson() {}

  /** One TOC entry; names are byte strings (ISO-8859-1 chars), as in {@link io.squashproxy.core.tar.TarEntry}. */
  static final class Entry {
    String name;
    String type;
    long size;
    String modtime;
    String linkName;
    long mode;
    long uid;
    long gid;
    String userName;
    String groupName;
    /** Where the gzip member holding this chunk starts in the blob; set once that member is written. */
    long offset;
    long devMajor;
    long devMinor;
    Map<String, byte[]> xattrs;
    String digest;
    long chunkOffset;
    long chunkSize;
    String chunkDigest;
  }

  static byte[] write(List<Entry> entries) {
    Out o = new Out();
    o.ascii("{\n\t\"version\": 1,\n\t\"entries\": [");
    for (int i = 0; i < entries.size(); i++) {
      o.ascii(i == 0 ? "\n\t\t{" : ",\n\t\t{");
      entry(o, entries.get(i));
      o.ascii("\n\t\t}");
    }
    o.ascii(entries.isEmpty() ? "]\n}" : "\n\t]\n}");
    return o.toByteArray();
  }

  private static void entry(Out o, Entry e) {
    o.first = true;
    o.field("name");
    o.string(latin1(e.name));
    o.field("type");
    o.string(utf8(e.type));
    o.number("size", e.size);
    o.text("modtime", e.modtime);
    if (e.linkName != null && !e.linkName.isEmpty()) {
      o.field("linkName");
      o.string(latin1(e.linkName));
    }
    o.number("mode", e.mode);
    o.number("uid", e.uid);
    o.number("gid", e.gid);
    o.name("userName", e.userName);
    o.name("groupName", e.groupName);
    o.number("offset", e.offset);
    o.number("devMajor", e.devMajor);
    o.number("devMinor", e.devMinor);
    if (e.xattrs != null && !e.xattrs.isEmpty()) {
      o.field("xattrs");
      o.ascii("{");
      List<byte[]> keys = new ArrayList<>();
      e.xattrs.keySet().forEach(k -> keys.add(utf8(k)));
      keys.sort(Arrays::compareUnsigned); // Go sorts map keys by their bytes
      for (int i = 0; i < keys.size(); i++) {
        o.ascii(i == 0 ? "\n\t\t\t\t" : ",\n\t\t\t\t");
        o.string(keys.get(i));
        o.ascii(": ");
        byte[] value = e.xattrs.get(new String(keys.get(i), StandardCharsets.UTF_8));
        o.string(Base64.getEncoder().encode(value));
      }
      o.ascii("\n\t\t\t}");
    }
    o.text("digest", e.digest);
    o.number("chunkOffset", e.chunkOffset);
    o.number("chunkSize", e.chunkSize);
    o.text("chunkDigest", e.chunkDigest);
  }

  private static byte[] latin1(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static final class Out extends ByteArrayOutputStream {
    boolean first;

    void ascii(String s) {
      writeBytes(s.getBytes(StandardCharsets.US_ASCII));
    }

    void field(String key) {
      ascii(first ? "\n\t\t\t\"" : ",\n\t\t\t\"");
      first = false;
      ascii(key);
      ascii("\": ");
    }

    void number(String key, long value) {
      if (value != 0) {
        field(key);
        ascii(Long.toString(value));
      }
    }

    void text(String key, String value) {
      if (value != null && !value.isEmpty()) {
        field(key);
        string(utf8(value));
      }
    }

    /** A user or group name from a tar header: bytes, like a path. */
    void name(String key, String value) {
      if (value != null && !value.isEmpty()) {
        field(key);
        string(latin1(value));
      }
    }

    /**
     * A JSON string of raw bytes as Go's encoding/json writes a Go string: invalid UTF-8 becomes {@code \ufffd},
     * control characters, {@code < > &} and U+2028/U+2029 are escaped, the rest is copied.
     */
    void string(byte[] b) {
      write('"');
      int i = 0;
      while (i < b.length) {
        int c = b[i] & 0xff;
        if (c < 0x80) {
          switch (c) {
            case '"', '\\' -> {
              write('\\');
              write(c);
            }
            case '\n' -> ascii("\\n");
            case '\r' -> ascii("\\r");
            case '\t' -> ascii("\\t");
            default -> {
              if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                ascii("\\u00");
                write(HEX[c >> 4]);
                write(HEX[c & 0xf]);
              } else {
                write(c);
              }
            }
          }
          i++;
          continue;
        }
        int n = runeLength(b, i);
        if (n == 0) {
          ascii("\\ufffd");
          i++;
          continue;
        }
        if (n == 3 && c == 0xe2 && (b[i + 1] & 0xff) == 0x80 && ((b[i + 2] & 0xff) == 0xa8
            || (b[i + 2] & 0xff) == 0xa9)) {
          ascii((b[i + 2] & 0xff) == 0xa8 ? "\\u2028" : "\\u2029");
        } else {
          write(b, i, n);
        }
        i += n;
      }
      write('"');
    }

    /** The length of the valid UTF-8 sequence at {@code i} (as Go's utf8.DecodeRune accepts it), 0 if invalid. */
    private static int runeLength(byte[] b, int i) {
      int c = b[i] & 0xff;
      int n;
      int lo = 0x80;
      int hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
      } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf; // no surrogates
      } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
      } else {
        return 0;
      }
      if (i + n > b.length) {
        return 0;
      }
      int second = b[i + 1] & 0xff;
      if (second < lo || second > hi) {
        return 0;
      }
      for (int k = 2; k < n; k++) {
        int cont = b[i + k] & 0xff;
        if (cont < 0x80 || cont > 0xbf) {
          return 0;
        }
      }
      return n;
    }
  }
}
