import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jsonLineLogger, NodeChangeLines, readAppLine, type NodeChange } from '../../src/demo/app-events.js';
import { prefixed } from '../../src/base/logger.js';

const change = (app: string, event: NodeChange['event'], node = 'n2', kind = 'memcached'): NodeChange => ({ app, kind, node, event, reason: `${app}'s reason` });

describe('the demo terminal: memcached node changes seen by the app nodes', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('prints one line per change, naming every app node that saw it, as soon as all have', () => {
    const lines: string[] = [];
    const changes = new NodeChangeLines((line) => lines.push(line), () => 3);
    changes.report(change('app3', 'down'));
    changes.report(change('app1', 'down'));
    changes.report(change('app1', 'down'));
    expect(lines).toEqual([]);
    changes.report(change('app2', 'down'));
    expect(lines).toEqual(["memcached n2 is down, seen by app1, app2, app3 (app3's reason)"]);
    for (const app of ['app1', 'app2', 'app3']) changes.report(change(app, 'up'));
    expect(lines[1]).toBe("memcached n2 is up again, seen by app1, app2, app3 (app1's reason)");
  });

  it('prints what it has after the window when an app node never reports, and keeps each change in order', () => {
    const lines: string[] = [];
    const changes = new NodeChangeLines((line) => lines.push(line), () => 3, 3000);
    changes.report(change('app1', 'down'));
    vi.advanceTimersByTime(2999);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(lines).toEqual(["memcached n2 is down, seen by app1 (app1's reason)"]);
    changes.report(change('app2', 'down'));
    changes.report(change('app2', 'up'));
    changes.report(change('app1', 'restarted', 'n3'));
    changes.close();
    expect(lines.slice(1)).toEqual([
      "memcached n2 is down, seen by app2 (app2's reason)",
      "memcached n2 is up again, seen by app2 (app2's reason)",
      "memcached n3 restarted empty, seen by app1 (app1's reason)",
    ]);
  });
});

describe('the app nodes\' log lines', () => {
  const written = (log: (logger: ReturnType<typeof prefixed>) => void) => {
    const lines: string[] = [];
    log(prefixed(jsonLineLogger((line) => lines.push(line))));
    return lines.map((line) => readAppLine('app2', line.trimEnd()));
  };

  it('carry node changes as changes, with the app node named', () => {
    expect(
      written((logger) => logger.warn({ event: 'memcached_node_down', node: 'n1', reason: 'connect ECONNREFUSED', ring: ['n2'] }, 'memcached node n1 is down')),
    ).toEqual([{ app: 'app2', kind: 'memcached', node: 'n1', event: 'down', reason: 'connect ECONNREFUSED' }]);
  });

  it('carry Redis node changes too, named as Redis nodes', () => {
    const [seen] = written((logger) => logger.warn({ event: 'redis_node_restarted', node: 'n2', reason: 'run_id a is now run_id b' }, 'redis node n2 restarted'));
    expect(seen).toEqual({ app: 'app2', kind: 'redis', node: 'n2', event: 'restarted', reason: 'run_id a is now run_id b' });
    const lines: string[] = [];
    new NodeChangeLines((line) => lines.push(line), () => 1).report(seen as NodeChange);
    expect(lines).toEqual(['redis n2 restarted empty, seen by app2 (run_id a is now run_id b)']);
  });

  it('print anything else under the app node\'s name, without the library tag', () => {
    expect(written((logger) => logger.warn({ event: 'backup_failed' }, 'backup to memcached node n3 failed'))).toEqual(['app2: backup to memcached node n3 failed']);
    expect(written((logger) => logger.info('relocating'))).toEqual(['app2: relocating']);
    expect(written((logger) => logger.info({ event: 'relocation_started' }, 'relocating sessions'))).toEqual([undefined]);
    expect(readAppLine('app1', 'not json')).toBe('app1: not json');
  });
});
