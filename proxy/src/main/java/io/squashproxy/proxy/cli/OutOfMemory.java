package io.squashproxy.proxy.cli;

import io.squashproxy.core.layout.ArchiveListener;
import io.squashproxy.core.layout.ImageOutcome;
import io.squashproxy.core.image.Descriptor;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The heap ran out during a squash: instead of the JVM's {@code OutOfMemoryError}, one line naming the archive,
 * the image and what to set. The squash holds every path of an image (issue #14), so a heap too small for one
 * image is the user's to raise; the partial output is gone by then (the squashers clean up in finally blocks).
 */
final class OutOfMemory {
  private OutOfMemory() {}

  /** Passes events on and remembers the image being squashed, for the message. */
  static final class Watch implements ArchiveListener {
    private final ArchiveListener next;
    private volatile String image;

    Watch(ArchiveListener next) {
      this.next = next;
    }

    String image() {
      return image;
    }

    @Override
    public void imageStarted(String name) {
      image = name;
      next.imageStarted(name);
    }

    @Override
    public void imageFinished(ImageOutcome outcome) {
      next.imageFinished(outcome);
    }

    @Override
    public void layerRead(int index, int total, Descriptor layer, long uncompressedBytes) {
      next.layerRead(index, total, layer, uncompressedBytes);
    }

    @Override
    public void layerWritten(int index, int total, long compressedBytesSoFar) {
      next.layerWritten(index, total, compressedBytesSoFar);
    }
  }

  /** Work that may run out of heap. */
  interface Work<T> {
    T run() throws IOException;
  }

  /**
   * Runs {@code work}; the heap running out there (on this thread, or on another and reaching us wrapped)
   * becomes {@code error}'s one-line message instead.
   */
  static <T> T guard(Work<T> work, java.util.function.Supplier<IOException> error) throws IOException {
    try {
      return work.run();
    } catch (OutOfMemoryError e) {
      throw error.get();
    } catch (IOException | RuntimeException e) {
      if (causedBy(e)) {
        throw error.get();
      }
      throw e;
    }
  }

  /** True when the heap running out on another thread reached us wrapped. */
  private static boolean causedBy(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof OutOfMemoryError) {
        return true;
      }
    }
    return false;
  }

  static IOException error(Path input, String image, boolean limited) {
    return error(String.valueOf(input), image, limited, "squash");
  }

  /** @param verb the command to run again with more heap ({@code squash}, {@code analyze}) */
  static IOException error(String input, String image, boolean limited, String verb) {
    long heapMiB = Runtime.getRuntime().maxMemory() >> 20;
    return new IOException(input + ": " + (image == null ? "" : "image " + image + ": ") + "out of memory with a "
        + heapMiB + " MiB heap (the " + verb + " holds every path of an image): give Java more heap, e.g. "
        + "JAVA_TOOL_OPTIONS=-Xmx" + suggestedMiB(heapMiB) + "m or java -Xmx" + suggestedMiB(heapMiB)
        + "m -jar squash-proxy.jar " + verb + " ..." + (limited ? ", or a lower --max-paths to refuse such images early"
        : ""));
  }

  private static long suggestedMiB(long heapMiB) {
    return Math.max(1024, Long.highestOneBit(Math.max(1, heapMiB)) * 4);
  }
}
