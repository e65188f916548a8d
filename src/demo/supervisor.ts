import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type Child } from './processes.js';
import { BuiltinBalancer } from './builtin-balancer.js';
import { nginxConfig } from './nginx-config.js';
import { NodeChangeLines, readAppLine } from './app-events.js';

export interface DemoOptions {
  mode: 'sticky' | 'non-sticky';
  /** `auto`: nginx when it is on PATH, else the built-in balancer. */
  lb: 'auto' | 'nginx' | 'builtin';
  /** nginx stickiness: by the route in the session cookie, or by client address. */
  nginxSticky: 'route' | 'ip_hash';
  apps: number;
  /** Storage nodes (memcached or redis-server). */
  memcached: number;
  /** `auto`: the memcached binary when it is on PATH, else the embedded server. */
  memcachedProvider: 'auto' | 'binary' | 'embedded';
  /**
   * Where session copies live: memcached nodes (the default), redis-server nodes (`redisNodes`), or
   * `peers`: no store, the app nodes keep each other's session copies.
   */
  backend?: 'memcached' | 'redis' | 'peers';
  /** With peers: one backup per session, or a copy on every other app node (default backup). */
  replication?: 'backup' | 'all';
  port: number;
  host: string;
  log: (line: string) => void;
}

interface AppNode {
  name: string;
  port: number;
  /** With peers: where its peer endpoint listens (kept across restarts: the other nodes are configured with it). */
  peerPort?: number;
  child?: Child;
}
interface MemcachedNode {
  id: string;
  port: number;
  child?: Child;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** How the log names each provider of storage nodes. */
const PROVIDERS: Record<DemoCluster['provider'], string> = {
  binary: 'the memcached binary on PATH',
  embedded: 'the embedded memcached-compatible server (no memcached on PATH)',
  'redis-server': 'redis-server from PATH',
};

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts a node on a port found free. Another program may take that port before the node binds
 * it (ports are probed, then released), so a node that fails to start gets a fresh port and
 * another try; the last failure is reported.
 */
export async function onFreePort(node: { port: number }, start: () => Promise<void>, attempts = 3): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    node.port = await freePort();
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}

/** Fails clearly when another program already listens where the load balancer should. */
async function ensurePortFree(host: string, port: number): Promise<void> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is already in use by another program; choose another with --port`) : err),
    );
    probe.listen(port, host, resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
}

async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs the demo cluster: memcached nodes, app nodes and a load balancer, each in its own
 * process, plus a small control API (`/_demo/...`) that the page uses to kill and restart them.
 * `stop()` ends every process it started and frees the ports.
 */
export class DemoCluster {
  readonly apps: AppNode[] = [];
  readonly memcached: MemcachedNode[] = [];
  balancer: 'nginx' | 'builtin' = 'builtin';
  provider: 'binary' | 'embedded' | 'redis-server' = 'embedded';
  url = '';
  private control?: http.Server;
  private builtin?: BuiltinBalancer;
  private nginx?: Child;
  private nginxDir?: string;
  private readonly changes: NodeChangeLines;

  constructor(private readonly options: DemoOptions) {
    this.changes = new NodeChangeLines(options.log, () => this.apps.filter((a) => a.child?.alive()).length);
  }

  async start(): Promise<string> {
    const o = this.options;
    if (o.backend === 'redis' && !onPath('redis-server')) throw new Error('--backend redis needs redis-server on PATH (apt-get install redis-server, brew install redis)');
    if (o.backend === 'redis') this.provider = 'redis-server';
    else this.provider = o.memcachedProvider === 'auto' ? (onPath('memcached') ? 'binary' : 'embedded') : o.memcachedProvider;
    this.balancer = o.lb === 'auto' ? (onPath('nginx') ? 'nginx' : 'builtin') : o.lb;
    const peers = o.backend === 'peers';
    if (!peers) for (let i = 0; i < o.memcached; i++) this.memcached.push({ id: `n${i + 1}`, port: 0 });
    for (let i = 0; i < o.apps; i++) this.apps.push({ name: `app${i + 1}`, port: 0, peerPort: peers ? await freePort() : undefined });
    if (peers) o.log(`no memcached: the app nodes replicate sessions to each other (replication ${o.replication ?? 'backup'})`);
    else o.log(`${o.backend ?? 'memcached'}: ${PROVIDERS[this.provider]}`);
    await Promise.all(this.memcached.map((node, i) => onFreePort(node, () => this.startMemcached(i))));
    await Promise.all(this.apps.map((app, i) => onFreePort(app, () => this.startApp(i))));
    if (peers) await this.peersSeeEachOther();
    this.control = http.createServer((req, res) => void this.handleControl(req, res));
    const controlPort = await freePort();
    await new Promise<void>((resolve) => this.control!.listen(controlPort, '127.0.0.1', resolve));
    o.log(`load balancer: ${this.balancerDescription()}`);
    await ensurePortFree(this.balancer === 'nginx' ? o.host : '127.0.0.1', o.port);
    if (this.balancer === 'nginx') await this.startNginx(controlPort);
    else {
      this.builtin = new BuiltinBalancer(() => this.apps.filter((a) => a.child?.alive()).map((a) => ({ route: a.name, port: a.port })), controlPort, o.mode === 'sticky');
      await this.builtin.listen(o.port);
    }
    this.url = `http://${o.host}:${o.port}/`;
    return this.url;
  }

  /**
   * Waits (up to 5 s) until every app node sees every other one up, as a readiness check would:
   * until then a session gets fewer copies than the replication mode says.
   */
  private async peersSeeEachOther(): Promise<void> {
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      const views = await Promise.all(
        this.apps.map((a) =>
          fetch(`http://127.0.0.1:${a.port}/api/state`).then(
            async (response) => ((await response.json()) as { memcached: Record<string, boolean> }).memcached,
            () => ({}) as Record<string, boolean>,
          ),
        ),
      );
      if (views.every((view) => this.apps.every((a) => view[a.name]))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private balancerDescription(): string {
    const o = this.options;
    if (this.balancer === 'builtin') {
      const how = o.mode === 'sticky' ? 'sticky proxy' : 'round-robin proxy (non-sticky mode: any node serves any request)';
      return `built-in ${how}${o.lb === 'auto' ? ' (nginx not found)' : ''}`;
    }
    if (o.nginxSticky === 'ip_hash') return 'nginx (sticky by ip_hash)';
    return o.mode === 'sticky'
      ? 'nginx (sticky by the route in the session cookie)'
      : 'nginx (round robin: in non-sticky mode session ids carry no route)';
  }

  private async startMemcached(i: number): Promise<void> {
    const node = this.memcached[i];
    const ready = () => waitForPort(node.port);
    if (this.provider === 'redis-server') {
      const args = ['--bind', '127.0.0.1', '--port', String(node.port), '--save', '', '--appendonly', 'no'];
      node.child = await startChild(`redis ${node.id}`, 'redis-server', args, { stdio: 'ignore', ready });
    } else if (this.provider === 'binary') {
      const args = ['-l', '127.0.0.1', '-p', String(node.port), '-U', '0', '-m', '64'];
      if (process.getuid?.() === 0) args.push('-u', 'root');
      node.child = await startChild(`memcached ${node.id}`, 'memcached', args, { stdio: 'ignore', ready });
    } else {
      const cli = path.join(here, '../embedded-memcached/cli.js');
      node.child = await startChild(`memcached ${node.id}`, process.execPath, [cli, '--port', String(node.port)]);
    }
  }

  private async startApp(i: number): Promise<void> {
    const app = this.apps[i];
    const env = {
      ...process.env,
      NODE_NAME: app.name,
      PORT: String(app.port),
      MSM_MODE: this.options.mode,
      MSM_NODES: this.memcached.map((m) => `${m.id}:127.0.0.1:${m.port}`).join(','),
      MSM_BACKEND: this.options.backend ?? 'memcached',
      ...(app.peerPort ? { MSM_PEERS: this.apps.map((a) => `${a.name}:127.0.0.1:${a.peerPort}`).join(','), MSM_REPLICATION: this.options.replication ?? 'backup' } : {}),
    };
    const onLine = (text: string) => {
      const line = readAppLine(app.name, text);
      if (typeof line === 'string') this.options.log(line);
      else if (line) this.changes.report(line);
    };
    app.child = await startChild(app.name, process.execPath, [path.join(here, 'app-node.js')], { env, onLine });
  }

  private async startNginx(controlPort: number): Promise<void> {
    const dir = mkdtempSync(path.join(tmpdir(), 'msm-demo-nginx-'));
    this.nginxDir = dir;
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, `${temp}_temp`));
    const config = nginxConfig({
      apps: this.apps.map((a) => ({ route: a.name, address: `127.0.0.1:${a.port}` })),
      sticky: this.options.nginxSticky,
      listen: `${this.options.host}:${this.options.port}`,
      controlAddress: `127.0.0.1:${controlPort}`,
      standalone: { prefix: dir, runAsRoot: process.getuid?.() === 0 },
    });
    writeFileSync(path.join(dir, 'nginx.conf'), config);
    this.nginx = await startChild('nginx', 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: 'ignore',
      ready: () => waitForPort(this.options.port),
    });
  }

  /** Processes started and still running (for the tests that check nothing is left behind). */
  pids(): number[] {
    return [...this.apps, ...this.memcached, { child: this.nginx }]
      .map((n) => n.child)
      .filter((c): c is Child => !!c?.alive())
      .map((c) => c.process.pid!);
  }

  private state() {
    return {
      balancer: this.balancer,
      mode: this.options.mode,
      backend: this.options.backend ?? 'memcached',
      memcachedProvider: this.provider,
      apps: this.apps.map((a) => ({ name: a.name, port: a.port, alive: !!a.child?.alive(), pid: a.child?.process.pid })),
      memcached: this.memcached.map((m) => ({ id: m.id, port: m.port, alive: !!m.child?.alive(), pid: m.child?.process.pid })),
      pids: this.pids(),
    };
  }

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const match = /^\/_demo\/(apps|memcached)\/(\d+)\/(kill|restart)$/.exec(req.url ?? '');
    try {
      if (req.url === '/_demo/state') return send(200, this.state());
      if (!match || req.method !== 'POST') return send(404, { error: 'unknown control request' });
      const [, kind, index, action] = match;
      const list = kind === 'apps' ? this.apps : this.memcached;
      const i = Number(index);
      if (i >= list.length) return send(404, { error: `no ${kind} node ${i}` });
      const name = kind === 'apps' ? this.apps[i].name : `memcached ${this.memcached[i].id}`;
      if (action === 'kill' && list[i].child?.alive()) {
        await list[i].child!.kill('SIGKILL');
        this.options.log(`${name} killed (SIGKILL)`);
      } else if (action === 'restart' && !list[i].child?.alive()) {
        await (kind === 'apps' ? this.startApp(i) : this.startMemcached(i));
        this.options.log(`${name} is back (pid ${list[i].child?.process.pid}${kind === 'memcached' ? ', empty' : ''})`);
      }
      send(200, this.state());
    } catch (err) {
      send(500, { error: (err as Error).message });
    }
  }

  /** Stops every process this demo started and closes its ports. */
  async stop(): Promise<void> {
    this.changes.close();
    await this.builtin?.close();
    await this.nginx?.kill('SIGTERM');
    await Promise.all([...this.apps, ...this.memcached].map((n) => n.child?.kill('SIGKILL')));
    await new Promise<void>((resolve) => (this.control ? this.control.close(() => resolve()) : resolve()));
    if (this.nginxDir) rmSync(this.nginxDir, { recursive: true, force: true });
  }
}
