package io.squashproxy.core.tar;

/** Tar typeflags (POSIX ustar, plus the GNU and PAX extension headers the reader consumes). */
public final class TarType {
  public static final byte REGULAR = '0';
  /** Pre-POSIX archives mark regular files with NUL. */
  public static final byte REGULAR_OLD = 0;
  public static final byte HARDLINK = '1';
  public static final byte SYMLINK = '2';
  public static final byte CHAR_DEVICE = '3';
  public static final byte BLOCK_DEVICE = '4';
  public static final byte DIRECTORY = '5';
  public static final byte FIFO = '6';
  /** Contiguous file: POSIX says treat it as a regular file. */
  public static final byte CONTIGUOUS = '7';
  public static final byte PAX_EXTENDED = 'x';
  public static final byte PAX_GLOBAL = 'g';
  public static final byte GNU_LONG_NAME = 'L';
  public static final byte GNU_LONG_LINK = 'K';
  public static final byte GNU_SPARSE = 'S';

  private TarType() {}

  public static boolean isRegular(byte type) {
    return type == REGULAR || type == REGULAR_OLD || type == CONTIGUOUS;
  }

  /** Types that carry content bytes in the archive. */
  public static boolean hasContent(byte type) {
    return isRegular(type);
  }

  public static String describe(byte type) {
    return switch (type) {
      case REGULAR, REGULAR_OLD, CONTIGUOUS -> "file";
      case HARDLINK -> "hardlink";
      case SYMLINK -> "symlink";
      case CHAR_DEVICE -> "char device";
      case BLOCK_DEVICE -> "block device";
      case DIRECTORY -> "directory";
      case FIFO -> "fifo";
      default -> "type '" + (char) type + "'";
    };
  }
}
