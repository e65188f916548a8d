/**
 * Real memcached nodes for integration tests. MSM_TEST_MEMCACHED picks the provider:
 * `container` (testcontainers, see memcached-container.ts), `binary` (the local `memcached` on a
 * free loopback port), `embedded` (the package's own server, not real memcached), or unset: a
 * container when an engine is reachable and has the image, else the binary, else the embedded
 * server with a loud notice (refused when MSM_FORBID_EMBEDDED is set).
 * Only processes and containers started here are ever signalled, by their own PID or id.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { readStats, waitUntilAnswering } from './memcached-text.js';
import { chooseContainers } from './provider-choice.js';
import { ServerProcess, type Launcher, type StorageServer } from './server-process.js';

export { textCommand } from './memcached-text.js';

export interface MemcachedInstance extends StorageServer {
  /** memcached's own `stats` counters. */
  stats(): Promise<Record<string, number>>;
}

/** Lowest port the kernel hands out for port 0 and outgoing connections (Linux; a safe guess elsewhere). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12_000) return low;
  } catch {
    // not Linux: fall through
  }
  return 32_768;
}
const PORT_FLOOR = 10_000;
const portCeiling = ephemeralLow();
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port that is free now, chosen below the kernel's ephemeral range: a port the kernel
 * picked (port 0) can be handed again to any outgoing connection before the test's server binds it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_FLOOR + Math.floor(Math.random() * (portCeiling - PORT_FLOOR));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
}

const binaryLauncher: Launcher = (port) => {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-c', '1024'];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  return ['memcached', args];
};

const embeddedCli = fileURLToPath(new URL('../../dist/esm/embedded-memcached/cli.js', import.meta.url));
const embeddedLauncher: Launcher = (port) => [process.execPath, [embeddedCli, '--port', String(port)]];

/** A memcached node in its own process (real signals: SIGKILL, SIGSTOP, SIGCONT). */
class ProcessMemcached extends ServerProcess implements MemcachedInstance {
  constructor(port: number, launcher: Launcher) {
    super(port, launcher, waitUntilAnswering);
  }
  stats(): Promise<Record<string, number>> {
    return readStats(this.host, this.port);
  }
}

function hasBinary(): boolean {
  return spawnSync('memcached', ['-h'], { stdio: 'ignore' }).status === 0;
}

type Provider = 'container' | 'binary' | 'embedded';
const PROVIDERS = ['container', 'binary', 'embedded'] as const satisfies Provider[];

/** Why the container provider was not taken, for the test log. */
let containersSkipped: string | undefined;

async function chooseProvider(): Promise<Provider> {
  const choice = await chooseContainers('MSM_TEST_MEMCACHED', PROVIDERS, async () => (await import('./memcached-container.js')).containersUnavailable());
  containersSkipped = choice.skipped;
  if (choice.containers) return 'container';
  const { requested } = choice;
  if (requested !== 'embedded' && hasBinary()) return 'binary';
  // Last resort: the package's embedded server, loudly, unless MSM_FORBID_EMBEDDED is set (CI).
  if (process.env.MSM_FORBID_EMBEDDED) {
    throw new Error(
      'integration tests need memcached: no container runtime with a memcached image, no `memcached` binary on PATH, ' +
        'and MSM_FORBID_EMBEDDED forbids the embedded fallback (install it with `apt-get install -y memcached`)',
    );
  }
  if (requested !== 'embedded') {
    console.warn(
      '\n*** NOTICE: no container runtime and no memcached binary: integration tests run against the EMBEDDED ' +
        'memcached-compatible server, not real memcached. Install memcached (apt-get install memcached) for real coverage. ***\n',
    );
  }
  return 'embedded';
}

let chosen: Promise<Provider> | undefined;
/** The provider this test process uses, chosen once. */
function provider(): Promise<Provider> {
  chosen ??= chooseProvider();
  return chosen;
}

/** Which provider the suite uses, for the test log. */
export async function providerName(): Promise<string> {
  const kind = await provider();
  if (kind === 'container') return `testcontainers (${(await import('./memcached-container.js')).memcachedImage()})`;
  const skipped = containersSkipped ? ` (not containers: ${containersSkipped})` : '';
  return (kind === 'binary' ? 'local memcached binary' : 'EMBEDDED memcached-compatible server (not real memcached)') + skipped;
}

/** Starts one real memcached. */
export async function startMemcached(): Promise<MemcachedInstance> {
  const kind = await provider();
  const port = await freePort();
  const instance =
    kind === 'container'
      ? new (await import('./memcached-container.js')).ContainerMemcached(port)
      : new ProcessMemcached(port, kind === 'binary' ? binaryLauncher : embeddedLauncher);
  await instance.start();
  return instance;
}

/**
 * Starts `count` memcached nodes; `nodes` is the `memcachedNodes` option for them (ids n1, n2, …),
 * `options` the same as session() options.
 */
export async function startCluster(count: number): Promise<{ instances: MemcachedInstance[]; nodes: string; options: { memcachedNodes: string }; stop(): Promise<void> }> {
  const instances = await Promise.all(Array.from({ length: count }, () => startMemcached()));
  const nodes = instances.map((m, i) => `n${i + 1}:${m.address}`).join(',');
  return {
    instances,
    nodes,
    options: { memcachedNodes: nodes },
    stop: async () => {
      await Promise.all(instances.map((m) => m.stop()));
    },
  };
}

/** Sums a stat over several nodes. */
export async function totalStat(instances: MemcachedInstance[], name: string): Promise<number> {
  const all = await Promise.all(instances.map((m) => m.stats()));
  return all.reduce((sum, s) => sum + (s[name] ?? 0), 0);
}
