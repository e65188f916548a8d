import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionMiddleware } from '../manager/middleware.js';
import { COUNTERS, type CounterName } from '../manager/statistics.js';

/** Latency buckets in seconds: 100 µs to 5 s. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Prometheus exposition of a session middleware's statistics (prom-client). Mount it in one line:
 *
 * ```js
 * app.get('/metrics', sessionMetrics(sessions));
 * ```
 *
 * Counters (`msm_<name>_total`), gauges (`msm_local_sessions`, `msm_memcached_node_up{node}`, …)
 * and latency histograms of store operations (`msm_operation_duration_seconds{operation}`).
 * Pass a `registry` to add them to your own; the default is a new one.
 */
export function sessionMetrics(middleware: SessionMiddleware, registry = new Registry()) {
  const read = () => middleware.statistics();
  for (const name of COUNTERS) {
    new Counter({
      name: `msm_${snake(name)}_total`,
      help: `memcached-session-manager counter ${name}`,
      registers: [registry],
      collect() {
        // The manager counts; the exporter reports its totals (counters only grow).
        this.reset();
        this.inc(read().counters[name as CounterName]);
      },
    });
  }
  new Gauge({
    name: 'msm_memcached_node_up',
    help: 'Whether each memcached node is up (1) or marked down (0)',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      for (const [node, up] of Object.entries(middleware.nodes())) this.set({ node }, up ? 1 : 0);
    },
  });
  for (const [gauge, help] of [
    ['localSessions', 'Sessions held in this process (sticky mode)'],
    ['localBytes', 'Memory of the sessions held in this process, in bytes (sticky mode)'],
    ['sessionsInUse', 'Sessions in use by requests of this process (non-sticky mode)'],
  ] as const) {
    new Gauge({
      name: `msm_${snake(gauge)}`,
      help,
      registers: [registry],
      collect() {
        this.set(read().gauges[gauge] ?? 0);
      },
    });
  }
  const durations = new Histogram({
    name: 'msm_operation_duration_seconds',
    help: 'Latency of session store operations (serialization, backup, load, touch, delete, lockWait)',
    labelNames: ['operation'],
    buckets: BUCKETS,
    registers: [registry],
  });
  middleware.onTiming((operation, ms) => durations.observe({ operation }, ms / 1000));

  return async function metrics(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await registry.metrics();
    res.setHeader('Content-Type', registry.contentType);
    res.end(body);
  };
}
