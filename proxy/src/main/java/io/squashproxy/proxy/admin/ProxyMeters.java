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
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocatorMetric;
import io.netty.util.internal.PlatformDependent;
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
    PooledByteBufAllocatorMetric netty = PooledByteBufAllocator.DEFAULT.metric();
    Gauge.builder("netty_allocator_memory_used", netty, PooledByteBufAllocatorMetric::usedDirectMemory)
        .tag("type", "direct").baseUnit("bytes").description("direct memory held by Netty's pooled allocator")
        .register(registry);
    Gauge.builder("netty_allocator_memory_used", netty, PooledByteBufAllocatorMetric::usedHeapMemory)
        .tag("type", "heap").baseUnit("bytes").description("heap memory held by Netty's pooled allocator")
        .register(registry);
    Gauge.builder("netty_direct_memory_used", PlatformDependent::usedDirectMemory).baseUnit("bytes")
        .description("direct memory Netty allocated outside the pool (-1 if not tracked)").register(registry);
    return registry;
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
