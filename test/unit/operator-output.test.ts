/** Metrics and log output that operators read: help texts, re-registration, event fields. */
import { expect, it } from 'vitest';
import { Registry } from 'prom-client';
import session, { sessionMetrics } from '../../src/index.js';
import { prefixed, ThrottledWarnings, type Logger } from '../../src/base/logger.js';
import { COUNTERS } from '../../src/base/statistics.js';

const options = { secret: 's', resave: false, saveUninitialized: false };

it('every metric has a help text saying what it counts', async () => {
  const registry = new Registry();
  sessionMetrics(session(options), registry);
  const metrics = await registry.getMetricsAsJSON();
  // node up, local sessions, local bytes, sessions in use, pushed revocation feeds, relocations pending, operation durations
  expect(metrics.length).toBe(COUNTERS.length + 7);
  for (const metric of metrics) {
    expect(metric.help, metric.name).not.toMatch(/memcached-session-manager counter/);
    expect(metric.help.length, metric.name).toBeGreaterThan(20);
  }
});

it('registering sessionMetrics twice on one registry replaces the metrics instead of throwing', async () => {
  const registry = new Registry();
  sessionMetrics(session(options), registry);
  const second = session(options);
  expect(() => sessionMetrics(second, registry)).not.toThrow();
  let body = '';
  await sessionMetrics(second, registry)({} as never, { setHeader: () => undefined, end: (b: string) => (body = b) } as never);
  expect(body.match(/^# HELP msm_backups_total /gm)).toHaveLength(1);
});

it('a throttled warning carries its event field, and the count of the ones held back', () => {
  const seen: unknown[][] = [];
  const logger: Logger = { info: () => undefined, error: () => undefined, warn: (...args) => seen.push(args) };
  const warnings = new ThrottledWarnings(logger, 0);
  warnings.warn('k', { event: 'backup_failed', node: 'n1' }, 'backup failed');
  expect(seen[0][0]).toEqual({ event: 'backup_failed', node: 'n1' });
  expect(seen[0][1]).toBe('backup failed');
});

it('a message logged without fields still carries an event field', () => {
  const seen: unknown[][] = [];
  const record = (...args: unknown[]) => seen.push(args);
  const logger = prefixed({ info: record, warn: record, error: record });
  logger.warn('lock lost; starting a new session');
  logger.error('failed');
  logger.info({ event: 'memcached_node_up', node: 'n1' }, 'n1 is up');
  expect(seen).toEqual([
    [{ event: 'warning' }, '[memcached-session-manager] lock lost; starting a new session'],
    [{ event: 'error' }, '[memcached-session-manager] failed'],
    [{ event: 'memcached_node_up', node: 'n1' }, '[memcached-session-manager] n1 is up'],
  ]);
});
