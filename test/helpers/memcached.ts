/**
 * Real memcached processes for integration tests: a testcontainers container when a container
 * runtime is reachable, otherwise the local `memcached` binary on a free loopback port.
 * Only processes started here are ever signalled, by their own PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
  /** Sends a signal to the memcached process (binary provider) or the container. */
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same port, empty. */
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

/** Sends one text-protocol command and reads until `terminator`. */
export function textCommand(host: string, port: number, command: string, terminator = 'END\r\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`memcached ${host}:${port} did not answer "${command.trim()}"`));
    }, 2000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.endsWith(terminator) || /^(ERROR|SERVER_ERROR|CLIENT_ERROR)/.test(data)) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(command);
  });
}

async function readStats(host: string, port: number): Promise<Record<string, number>> {
  const text = await textCommand(host, port, 'stats\r\n');
  const out: Record<string, number> = {};
  for (const line of text.split('\r\n')) {
    const [tag, name, value] = line.split(' ');
    if (tag === 'STAT') out[name] = Number(value);
  }
  return out;
}

async function waitForPort(port: number, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await readStats('127.0.0.1', port);
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
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
    await waitForPort(this.port);
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

let runtimeAvailable: Promise<boolean> | undefined;

/** Whether testcontainers can reach a container runtime (checked once). */
function containerRuntime(): Promise<boolean> {
  runtimeAvailable ??= (async () => {
    if (process.env.MSM_TEST_MEMCACHED === 'binary' || process.env.MSM_TEST_MEMCACHED === 'embedded') return false;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeAvailable;
}

class ContainerMemcached implements MemcachedInstance {
  readonly host = '127.0.0.1';
  port = 0;
  private container?: import('testcontainers').StartedTestContainer;
  get address(): string {
    return `${this.host}:${this.port}`;
  }
  async start(): Promise<void> {
    const { GenericContainer } = await import('testcontainers');
    this.container = await new GenericContainer('memcached:1.6-alpine').withExposedPorts(11211).start();
    this.port = this.container.getMappedPort(11211);
  }
  stats(): Promise<Record<string, number>> {
    return readStats(this.host, this.port);
  }
  async signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void> {
    // Signal memcached inside the container (PID 1 ignores SIGKILL from inside, so stop instead).
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await this.container?.stop({ timeout: 0 });
    else await this.container?.exec(['kill', `-${signal.slice(3)}`, '1']);
  }
  async restart(): Promise<void> {
    await this.container?.restart();
    this.port = this.container!.getMappedPort(11211);
  }
  async stop(): Promise<void> {
    await this.container?.stop({ timeout: 0 });
  }
}

function hasBinary(): boolean {
  if (process.env.MSM_TEST_MEMCACHED === 'embedded') return false;
  return spawnSync('memcached', ['-h'], { stdio: 'ignore' }).status === 0;
}

/** Which provider the suite uses, for the test log. */
export async function providerName(): Promise<string> {
  if (await containerRuntime()) return 'testcontainers (memcached:1.6-alpine)';
  return hasBinary() ? 'local memcached binary' : 'EMBEDDED memcached-compatible server (not real memcached)';
}

let warned = false;
/** Last resort: the package's embedded server, loudly, unless MSM_FORBID_EMBEDDED is set (CI). */
function embeddedFallback(): Launcher {
  if (process.env.MSM_FORBID_EMBEDDED) {
    throw new Error(
      'integration tests need memcached: no container runtime is reachable, no `memcached` binary is on PATH, ' +
        'and MSM_FORBID_EMBEDDED forbids the embedded fallback (install it with `apt-get install -y memcached`)',
    );
  }
  if (!warned) {
    warned = true;
    console.warn(
      '\n*** NOTICE: no container runtime and no memcached binary: integration tests run against the EMBEDDED ' +
        'memcached-compatible server, not real memcached. Install memcached (apt-get install memcached) for real coverage. ***\n',
    );
  }
  return embeddedLauncher;
}

/** Starts one real memcached. */
export async function startMemcached(): Promise<MemcachedInstance> {
  if (await containerRuntime()) {
    const instance = new ContainerMemcached();
    await instance.start();
    return instance;
  }
  const instance = new ProcessMemcached(await freePort(), hasBinary() ? binaryLauncher : embeddedFallback());
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
