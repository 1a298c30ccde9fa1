package io.squashproxy.proxy.admin;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetric;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.squashproxy.proxy.store.ContentStore;

/** The process-wide meter registry: JVM, Netty memory and cache meters beside the service's own. */
public final class ProxyMeters {
  private ProxyMeters() {}

  public static PrometheusMeterRegistry create() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    bindAllocator(registry, ByteBufAllocator.DEFAULT);
    return registry;
  }

  /**
   * Meters of the allocator Netty's channels take their buffers from ({@link ByteBufAllocator#DEFAULT}, which
   * in Netty 4.2 is the adaptive allocator unless {@code -Dio.netty.allocator.type} picks {@code pooled} or
   * {@code unpooled}); {@code PooledByteBufAllocator.DEFAULT} would be an idle pool nobody uses.
   */
  static void bindAllocator(PrometheusMeterRegistry registry, ByteBufAllocator allocator) {
    if (!(allocator instanceof ByteBufAllocatorMetricProvider provider)) {
      return; // a custom allocator without metrics: better no meter than a zero that looks true
    }
    ByteBufAllocatorMetric metric = provider.metric();
    String kind = allocator instanceof AdaptiveByteBufAllocator ? "adaptive"
        : allocator instanceof PooledByteBufAllocator ? "pooled"
        : allocator instanceof UnpooledByteBufAllocator ? "unpooled" : allocator.getClass().getSimpleName();
    Gauge.builder("netty_allocator_memory_used", metric, ByteBufAllocatorMetric::usedDirectMemory)
        .tag("type", "direct").tag("allocator", kind).baseUnit("bytes")
        .description("direct memory held by the allocator Netty's channels use").register(registry);
    Gauge.builder("netty_allocator_memory_used", metric, ByteBufAllocatorMetric::usedHeapMemory)
        .tag("type", "heap").tag("allocator", kind).baseUnit("bytes")
        .description("heap memory held by the allocator Netty's channels use").register(registry);
    Gauge.builder("netty_direct_memory_used", metric, ByteBufAllocatorMetric::usedDirectMemory).baseUnit("bytes")
        .description("direct memory held by the allocator Netty's channels use (buffers in use and the free "
            + "space of its chunks)").register(registry);
  }

  public static void bindCache(PrometheusMeterRegistry registry, ContentStore store) {
    Gauge.builder("squash_proxy_cache_size", store, ContentStore::blobBytes).tag("type", "blob")
        .baseUnit("bytes").description("bytes of blobs in the cache").register(registry);
    Gauge.builder("squash_proxy_cache_entries", store, ContentStore::blobCount).tag("type", "blob")
        .description("blobs in the cache").register(registry);
    io.micrometer.core.instrument.FunctionCounter.builder("squash_proxy_cache_evictions", store,
            ContentStore::evictions).tag("type", "blob").description("blobs evicted by the size cap")
        .register(registry);
    io.micrometer.core.instrument.FunctionCounter.builder("squash_proxy_cache_pressure_evictions", store,
            ContentStore::pressureEvictions).tag("type", "blob")
        .description("blobs evicted to keep cache.minFreeSpace free on the file system").register(registry);
    Gauge.builder("squash_proxy_cache_free_bytes", store, ContentStore::freeBytes).baseUnit("bytes")
        .description("free space on the cache's file system").register(registry);
  }
}
