#!/usr/bin/env node
// memcached-session-manager demo: a cluster behind a sticky load balancer, with a page to break it.
import { parseArgs } from 'node:util';
import { DemoCluster, type DemoOptions } from './supervisor.js';

const usage = `usage: memcached-session-manager demo [options]

  --mode sticky|non-sticky       session manager mode (default sticky)
  --lb auto|nginx|builtin        load balancer (default auto: nginx when installed)
  --nginx-sticky route|ip_hash   how nginx keeps users on a node (default route)
  --nodes N                      app nodes (default 3)
  --memcached N                  storage nodes: memcached, or redis-server with --backend redis (default 3)
  --memcached-provider auto|binary|embedded   (default auto: the binary when installed)
  --backend memcached|redis|peers   where session copies live: memcached, redis-server (on PATH),
                                 or the app nodes themselves (peers: no store at all; sticky mode only)
  --replication backup|all       with peers: one backup per session, or one on every node (default backup)
  --port P                       port of the load balancer (default 8080)
  --host H                       address to listen on (default 127.0.0.1)`;

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    mode: { type: 'string', default: 'sticky' },
    lb: { type: 'string', default: 'auto' },
    'nginx-sticky': { type: 'string', default: 'route' },
    nodes: { type: 'string', default: '3' },
    memcached: { type: 'string', default: '3' },
    'memcached-provider': { type: 'string', default: 'auto' },
    backend: { type: 'string', default: 'memcached' },
    replication: { type: 'string', default: 'backup' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length > 0 && positionals[0] !== 'demo') fail(`unknown command "${positionals[0]}"`);
const oneOf = <T extends string>(name: string, value: string, allowed: readonly T[]): T =>
  (allowed as readonly string[]).includes(value) ? (value as T) : fail(`--${name} must be one of ${allowed.join(', ')}`);
const count = (name: string, value: string, max: number): number => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= max ? n : fail(`--${name} must be a whole number from 1 to ${max}`);
};

const options: DemoOptions = {
  mode: oneOf('mode', values.mode!, ['sticky', 'non-sticky'] as const),
  lb: oneOf('lb', values.lb!, ['auto', 'nginx', 'builtin'] as const),
  nginxSticky: oneOf('nginx-sticky', values['nginx-sticky']!, ['route', 'ip_hash'] as const),
  apps: count('nodes', values.nodes!, 9),
  memcached: count('memcached', values.memcached!, 9),
  memcachedProvider: oneOf('memcached-provider', values['memcached-provider']!, ['auto', 'binary', 'embedded'] as const),
  backend: oneOf('backend', values.backend!, ['memcached', 'redis', 'peers'] as const),
  replication: oneOf('replication', values.replication!, ['backup', 'all'] as const),
  port: Number.isInteger(Number(values.port)) ? Number(values.port) : fail('--port must be a number'),
  host: values.host!,
  log: (line) => console.log(`  ${line}`),
};

if (options.backend === 'peers' && options.mode !== 'sticky') fail('--backend peers needs --mode sticky: each app node backs up the sessions it holds');

const cluster = new DemoCluster(options);
let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the demo cluster…');
  await cluster.stop();
  console.log('stopped: every process ended, ports freed');
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

console.log(`memcached-session-manager demo (${options.mode} mode${options.backend === 'peers' ? `, replication between app nodes: ${options.replication}` : ''})`);
try {
  const url = await cluster.start();
  console.log(`\n  Open ${url}\n\n  Ctrl-C stops everything.`);
} catch (err) {
  console.error(`demo failed to start: ${(err as Error).message}`);
  await stop(1);
}
