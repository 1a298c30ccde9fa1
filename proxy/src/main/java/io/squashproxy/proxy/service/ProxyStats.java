package io.squashproxy.proxy.service;

import java.util.concurrent.atomic.LongAdder;

/** Counters the service keeps; the metrics registry reads them. */
public final class ProxyStats {
  public final LongAdder squashes = new LongAdder();
  public final LongAdder squashFailures = new LongAdder();
  public final LongAdder squashesInFlight = new LongAdder();
  public final LongAdder squashBytesIn = new LongAdder();
  public final LongAdder squashBytesOut = new LongAdder();
  public final LongAdder upstreamBlobGets = new LongAdder();
  public final LongAdder upstreamManifestGets = new LongAdder();
  public final LongAdder upstreamManifestHeads = new LongAdder();
  public final LongAdder staleServed = new LongAdder();
}
