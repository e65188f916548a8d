/**
 * Real memcached nodes for integration tests. MSM_TEST_MEMCACHED picks the provider:
 * `container` (testcontainers, see memcached-container.ts), `binary` (the local `memcached` on a
 * free loopback port), `embedded` (the package's own server, not real memcached), or unset: a
 * container when an engine is reachable and has the image, else the binary, else the embedded
 * server with a loud notice (refused when MSM_FORBID_EMBEDDED is set).
 * Only processes and containers started here are ever signalled, by their own PID or id.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readStats, waitUntilAnswering } from './memcached-text.js';

export { textCommand } from './memcached-text.js';

/** The process state letter from /proc (T = stopped), or undefined when it cannot be read. */
function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  } catch {
    return undefined;
  }
}

export interface MemcachedInstance {
  readonly host: string;
  readonly port: number;
  /** `host:port` */
  readonly address: string;
  /** memcached's own `stats` counters. */
  stats(): Promise<Record<string, number>>;
  /**
   * Sends a signal to the memcached process, or the same fault to its container: SIGSTOP hangs
   * it (a container is paused), SIGCONT resumes it, SIGKILL/SIGTERM end it (connections are
   * refused). Resolves once the fault is in effect.
   */
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same address, empty (also after SIGKILL). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The command line that starts one node on `port`: the memcached binary, or the embedded server. */
type Launcher = (port: number) => [string, string[]];

const binaryLauncher: Launcher = (port) => {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-c', '1024'];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  return ['memcached', args];
};

const embeddedCli = fileURLToPath(new URL('../../dist/esm/embedded-memcached/cli.js', import.meta.url));
const embeddedLauncher: Launcher = (port) => [process.execPath, [embeddedCli, '--port', String(port)]];

/** A memcached node in its own process (real signals: SIGKILL, SIGSTOP, SIGCONT). */
class ProcessMemcached implements MemcachedInstance {
  readonly host = '127.0.0.1';
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly launcher: Launcher,
  ) {}
  get address(): string {
    return `${this.host}:${this.port}`;
  }
  async start(): Promise<void> {
    const [command, args] = this.launcher(this.port);
    this.child = spawn(command, args, { stdio: 'ignore' });
    await waitUntilAnswering(this.host, this.port);
  }
  stats(): Promise<Record<string, number>> {
    return readStats(this.host, this.port);
  }
  async signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
    // kill() returns before every thread has stopped; wait until the process really is.
    if (signal === 'SIGSTOP') {
      for (let i = 0; i < 100 && processState(child.pid) !== 'T'; i++) await new Promise((r) => setTimeout(r, 5));
    }
  }
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGCONT');
      await this.signal('SIGKILL');
    }
    this.child = undefined;
  }
}

function hasBinary(): boolean {
  return spawnSync('memcached', ['-h'], { stdio: 'ignore' }).status === 0;
}

type Provider = 'container' | 'binary' | 'embedded';
const PROVIDERS: readonly string[] = ['container', 'binary', 'embedded'] satisfies Provider[];

/** Why the container provider was not taken, for the test log. */
let containersSkipped: string | undefined;

async function chooseProvider(): Promise<Provider> {
  const requested = process.env.MSM_TEST_MEMCACHED || undefined;
  if (requested !== undefined && !PROVIDERS.includes(requested)) {
    throw new Error(`MSM_TEST_MEMCACHED=${requested}: expected ${PROVIDERS.join(', ')}, or unset to pick one`);
  }
  if (requested === undefined || requested === 'container') {
    const { containersUnavailable } = await import('./memcached-container.js');
    containersSkipped = await containersUnavailable();
    if (!containersSkipped) return 'container';
    if (requested === 'container') throw new Error(`MSM_TEST_MEMCACHED=container, but ${containersSkipped}`);
  }
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

/** Starts `count` memcached nodes; `nodes` is the `memcachedNodes` option for them (ids n1, n2, …). */
export async function startCluster(count: number): Promise<{ instances: MemcachedInstance[]; nodes: string; stop(): Promise<void> }> {
  const instances = await Promise.all(Array.from({ length: count }, () => startMemcached()));
  return {
    instances,
    nodes: instances.map((m, i) => `n${i + 1}:${m.address}`).join(','),
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
