import { afterEach, describe, expect, it } from 'vitest';
import { NodeHealth, type HealthEvent } from '../../src/failover/node-health.js';
import { NodeConnectionError } from '../../src/storage/call-fault.js';
import { DeadlineError } from '../../src/base/deadline.js';
import { MemcachedResponseError, STATUS } from '../../src/storage/memcached/memcached-errors.js';

const open: NodeHealth[] = [];
afterEach(() => open.splice(0).forEach((h) => h.close()));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `probe` answers as a memcached node's `stats` would; the node's instance is its process id and start time. */
function setup(probe: (id: string) => Promise<{ pid: number; startedAt: number }>) {
  const events: Array<[string, HealthEvent]> = [];
  const instance = (id: string) => probe(id).then(({ pid, startedAt }) => `pid ${pid} started at ${startedAt}`);
  const health = new NodeHealth(['n1'], { failureThreshold: 3, checkInterval: 20 }, instance, (id, event) => events.push([id, event]));
  open.push(health);
  return { health, events };
}

describe('circuit breaker', () => {
  it('one or two failures do not mark a node down; three in a row do', () => {
    const { health, events } = setup(() => new Promise(() => undefined));
    const slow = () => new DeadlineError('memcached n1 get', 100);
    health.failed('n1', slow());
    health.failed('n1', slow());
    health.succeeded('n1');
    health.failed('n1', slow());
    health.failed('n1', new NodeConnectionError('n1', 'get', new Error('connect ECONNREFUSED')));
    expect(health.isUp('n1')).toBe(true);
    health.failed('n1', slow());
    expect(health.isUp('n1')).toBe(false);
    expect(events).toEqual([['n1', 'down']]);
  });

  it('a refused connection marks a node down at once; a closed one counts as one failure', () => {
    const { health, events } = setup(() => new Promise(() => undefined));
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    health.failed('n1', new NodeConnectionError('n1', 'get', new Error('connection to memcached closed')));
    expect(health.isUp('n1')).toBe(true);
    health.failed('n1', new NodeConnectionError('n1', 'add', refused));
    expect(health.isUp('n1')).toBe(false);
    expect(events).toEqual([['n1', 'down']]);
  });

  it('calls failed by one event (one dropped connection, one error) count as one failure', () => {
    const { health, events } = setup(() => new Promise(() => undefined));
    const dropped = new DeadlineError('memcached n1 stats', 500);
    for (let call = 0; call < 5; call++) health.failed('n1', dropped);
    const closed = new Error('connection to memcached closed');
    health.failed('n1', new NodeConnectionError('n1', 'get', closed));
    health.failed('n1', new NodeConnectionError('n1', 'set', closed));
    expect(health.isUp('n1')).toBe(true);
    health.failed('n1', new NodeConnectionError('n1', 'get', new Error('connect ECONNREFUSED')));
    expect(health.isUp('n1')).toBe(false);
    expect(events).toEqual([['n1', 'down']]);
  });

  it('only connection failures and missed deadlines count: errors caused by a request never do', () => {
    const { health, events } = setup(() => new Promise(() => undefined));
    const slow = () => new DeadlineError('memcached n1 get', 100);
    for (let i = 0; i < 10; i++) {
      health.failed('n1', new RangeError('The value of "value" is out of range'));
      health.failed('n1', new TypeError('bad argument'));
      health.failed('n1', new MemcachedResponseError(STATUS.tooLarge, 'n1', 'set'));
      health.failed('n1', new MemcachedResponseError(STATUS.invalid, 'n1', 'set'));
      health.failed('n1', new MemcachedResponseError(STATUS.notStored, 'n1', 'set'));
    }
    expect(health.isUp('n1')).toBe(true);
    // An error answer proves the node up: it breaks a run of failures.
    health.failed('n1', slow());
    health.failed('n1', slow());
    health.failed('n1', new MemcachedResponseError(STATUS.tooLarge, 'n1', 'set'));
    health.failed('n1', slow());
    health.failed('n1', new RangeError('out of range'));
    health.failed('n1', slow());
    expect(health.isUp('n1')).toBe(true);
    health.failed('n1', slow());
    expect(events).toEqual([['n1', 'down']]);
  });

  it('brings a down node back when a check answers, and notices a restart by its process id', async () => {
    let pid = 100;
    let answering = false;
    const { health, events } = setup(async () => {
      if (!answering) throw new Error('refused');
      return { pid, startedAt: 1_700_000_000 };
    });
    await sleep(100);
    expect(health.isUp('n1')).toBe(false);
    answering = true;
    await sleep(60);
    expect(health.isUp('n1')).toBe(true);
    pid = 200;
    await sleep(60);
    expect(events).toEqual([
      ['n1', 'down'],
      ['n1', 'up'],
      ['n1', 'restarted'],
    ]);
  });

  it('notices a restart by its start time when the process id stays the same (memcached in a container is process 1)', async () => {
    let startedAt = 1_700_000_000;
    const { events } = setup(async () => ({ pid: 1, startedAt }));
    await sleep(60);
    startedAt += 3;
    await sleep(60);
    expect(events).toEqual([['n1', 'restarted']]);
  });
});
