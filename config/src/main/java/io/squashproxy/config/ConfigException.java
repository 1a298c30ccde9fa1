package io.squashproxy.config;

/** The configuration cannot be used; the message names the file, line and key. */
public class ConfigException extends Exception {
  private static final long serialVersionUID = 1L;

  public ConfigException(String message) {
    super(message);
  }
}
