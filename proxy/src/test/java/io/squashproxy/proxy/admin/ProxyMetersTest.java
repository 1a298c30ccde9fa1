package io.squashproxy.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Netty memory meters read the allocator the proxy's channels really take their buffers from. */
class ProxyMetersTest {

  @Test
  void directMemoryFollowsBuffersFromTheAllocatorChannelsUse() {
    EmbeddedChannel channel = new EmbeddedChannel();
    ByteBufAllocator used = channel.alloc();
    channel.finishAndReleaseAll();
    assertSame(ByteBufAllocator.DEFAULT, used, "channels take the default allocator");

    PrometheusMeterRegistry registry = ProxyMeters.create();
    double before = direct(registry);
    List<ByteBuf> held = new ArrayList<>();
    long allocated = 0;
    try {
      for (int i = 0; i < 32; i++) {
        ByteBuf b = used.directBuffer(256 * 1024);
        b.writeZero(b.writableBytes());
        held.add(b);
        allocated += b.capacity();
      }
      double during = direct(registry);
      assertTrue(during > before, "netty_direct_memory_used moved: " + before + " -> " + during);
      assertTrue(during >= allocated, "it covers the " + allocated + " bytes held: " + during);
      double allocatorDirect = registry.get("netty_allocator_memory_used").tag("type", "direct").gauge().value();
      assertTrue(allocatorDirect >= allocated, "netty_allocator_memory_used{type=direct}: " + allocatorDirect);
      assertTrue(registry.scrape().contains("netty_direct_memory_used_bytes "), "the name dashboards read");
    } finally {
      held.forEach(ByteBuf::release);
    }
  }

  private static double direct(PrometheusMeterRegistry registry) {
    return registry.get("netty_direct_memory_used").gauge().value();
  }
}
