package io.squashproxy.tests.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * A TCP relay on a free 127.0.0.1 port to a local server, passing the server's bytes on at a set rate: a slow
 * link, so that a transfer from a real registry lasts long enough to kill something in the middle of it.
 * When the server's side closes or breaks, the client's side is closed too (the client sees a body cut
 * short); a server that is down makes the relay close new connections at once (the client sees a reset).
 * With a rate of 0 it only counts; {@link #onRelayed} lets a test look at another point of a chain when a
 * transfer reaches a given byte, without timing anything itself.
 */
public final class ThrottledRelay implements AutoCloseable {
  private static final int CHUNK = 16 * 1024;

  private final ServerSocket listener;
  private final int targetPort;
  private final long bytesPerSecond;
  private final AtomicLong relayed = new AtomicLong();
  private final List<Socket> sockets = Collections.synchronizedList(new ArrayList<>());
  private final List<LongConsumer> listeners = new CopyOnWriteArrayList<>();

  private ThrottledRelay(ServerSocket listener, int targetPort, long bytesPerSecond) {
    this.listener = listener;
    this.targetPort = targetPort;
    this.bytesPerSecond = bytesPerSecond;
  }

  /** @param target {@code 127.0.0.1:PORT} of the server; {@code bytesPerSecond} 0 for no limit */
  public static ThrottledRelay start(String target, long bytesPerSecond) {
    return start(0, target, bytesPerSecond);
  }

  /** As {@link #start(String, long)}, listening on {@code port} (one a client was told of in advance). */
  public static ThrottledRelay start(int port, String target, long bytesPerSecond) {
    try {
      ServerSocket s = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"));
      ThrottledRelay r = new ThrottledRelay(s, Integer.parseInt(target.substring(target.lastIndexOf(':') + 1)),
          bytesPerSecond);
      daemon("relay-accept", r::accept);
      return r;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String url() {
    return "http://" + host();
  }

  /** {@code 127.0.0.1:PORT}. */
  public String host() {
    return "127.0.0.1:" + listener.getLocalPort();
  }

  /** Called on a relay thread with {@link #relayed} after each chunk passed from the server. */
  public void onRelayed(LongConsumer listener) {
    listeners.add(listener);
  }

  /** Bytes passed from the server to clients so far. */
  public long relayed() {
    return relayed.get();
  }

  private void accept() {
    while (!listener.isClosed()) {
      Socket client;
      try {
        client = listener.accept();
      } catch (IOException e) {
        return;
      }
      sockets.add(client);
      Socket server;
      try {
        server = new Socket(InetAddress.getByName("127.0.0.1"), targetPort);
      } catch (IOException e) {
        closeQuietly(client);
        continue;
      }
      sockets.add(server);
      daemon("relay-up", () -> pump(client, server, false));
      daemon("relay-down", () -> pump(server, client, true));
    }
  }

  private void pump(Socket from, Socket to, boolean throttle) {
    byte[] buf = new byte[CHUNK];
    long started = System.nanoTime();
    long sent = 0;
    try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
      for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
        out.write(buf, 0, n);
        out.flush();
        if (throttle) {
          long total = relayed.addAndGet(n);
          listeners.forEach(l -> l.accept(total));
          sent += n;
          if (bytesPerSecond <= 0) {
            continue;
          }
          long due = started + sent * 1_000_000_000L / bytesPerSecond;
          long wait = due - System.nanoTime();
          if (wait > 0) {
            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
          }
        }
      }
    } catch (IOException e) {
      // one side went away: end both
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private static void daemon(String name, Runnable r) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() {
    closeQuietly2(listener);
    synchronized (sockets) {
      sockets.forEach(ThrottledRelay::closeQuietly);
    }
  }

  private static void closeQuietly2(ServerSocket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
