import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { afterEach, beforeEach } from 'vitest';
import { startCluster } from './memcached.js';

const script = fileURLToPath(new URL('../fixtures/app-node.mjs', import.meta.url));

/** An app node in its own process (so it can be SIGKILLed like a crashed server). */
export interface AppProcess {
  url: string;
  child: ChildProcess;
  /** What the package logged in this app so far, as `<level>: <message>` (kept out of the test output). */
  logs: string[];
  /** Resolves once the middleware's ready() did. */
  ready: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startApp(name: string, options: Record<string, unknown>): Promise<AppProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, NODE_NAME: name, MSM_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const logs: string[] = [];
  let readied: () => void;
  const ready = new Promise<void>((resolve) => (readied = resolve));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`app ${name} exited with ${code} before listening`)));
    lines.on('line', (line) => {
      const printed = JSON.parse(line) as { port?: number; log?: string; ready?: true };
      if (printed.log !== undefined) logs.push(printed.log);
      else if (printed.ready) readied();
      else resolve(printed.port!);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    logs,
    ready,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * For each test of the calling file: fresh memcached processes (`scope.cluster`) and app
 * processes started with `scope.start` on them, all stopped after the test.
 */
export function freshClusterPerTest(nodes: number) {
  return freshServersPerTest(() => startCluster(nodes));
}

/**
 * The same over the servers `startServers` starts for each test (e.g. `() => startServers(2, 'redis')`
 * from backend.ts); apps get the cluster's `options` (its node list).
 */
export function freshServersPerTest<Cluster extends { options: Record<string, unknown>; stop(): Promise<void> }>(startServers: () => Promise<Cluster>) {
  const scope = {
    cluster: undefined as unknown as Cluster,
    apps: [] as AppProcess[],
    async start(name: string, options: Record<string, unknown>): Promise<AppProcess> {
      const app = await startApp(name, { ...scope.cluster.options, ...options });
      scope.apps.push(app);
      return app;
    },
  };
  beforeEach(async () => {
    scope.cluster = await startServers();
  });
  afterEach(async () => {
    while (scope.apps.length) await scope.apps.pop()!.kill();
    await scope.cluster.stop();
  });
  return scope;
}
