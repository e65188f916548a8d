/**
 * Real redis-server nodes for integration tests, in containers (testcontainers, see
 * redis-container.ts) or the local `redis-server` binary on a free loopback port; without
 * persistence (a restart comes back empty, as a restarted memcached does), optionally speaking TLS
 * only. Only processes and containers started here are ever signalled, by their own PID or id.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { freePort, textCommand } from './memcached.js';
import type { ContainerServer } from './container-server.js';
import { chooseContainers } from './provider-choice.js';
import { ServerProcess, type StorageServer } from './server-process.js';

/** Extra redis-server arguments: `--requirepass`, `--user` ACL rules, `--proto-max-bulk-len`, ... */
export type RedisArgs = string[];

/** A server certificate for 127.0.0.1 and the CA that signed it (PEM files). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Sends PING over TLS and resolves on any answer. */
function tlsPing(host: string, port: number, ca: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca }, () => socket.write('PING\r\n'));
    socket.once('data', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** Resolves once the server answers PING (with PONG, or NOAUTH when it wants a password). */
async function answering(ping: () => Promise<unknown>, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await ping();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

type Provider = 'container' | 'binary';
const PROVIDERS = ['container', 'binary'] as const satisfies Provider[];

/** Why the container provider was not taken, for the test log. */
let containersSkipped: string | undefined;

let chosen: Promise<Provider> | undefined;
/** The provider this test process uses, chosen once. */
function provider(): Promise<Provider> {
  chosen ??= chooseContainers('MSM_TEST_REDIS', PROVIDERS, async () => (await import('./redis-container.js')).containersUnavailable()).then((choice) => {
    containersSkipped = choice.skipped;
    return choice.containers ? 'container' : 'binary';
  });
  return chosen;
}

/** Which provider startRedis() uses, for the test log. */
export async function redisProviderName(): Promise<string> {
  if ((await provider()) === 'container') return `testcontainers (${(await import('./redis-container.js')).redisImage()})`;
  return 'local redis-server binary' + (containersSkipped ? ` (not containers: ${containersSkipped})` : '');
}

/** redis-server's arguments to listen on `port` (TLS only with `tlsFiles`), without persistence, then `args`. */
function serverArgs(port: number, args: RedisArgs, tlsFiles?: TlsFiles): string[] {
  const listen = tlsFiles
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tlsFiles.cert, '--tls-key-file', tlsFiles.key, '--tls-ca-cert-file', tlsFiles.ca, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  return [...listen, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args];
}

/** Where the certificate files are copied in a container. */
const TLS_IN_CONTAINER: TlsFiles = { ca: '/tls/ca.crt', cert: '/tls/server.crt', key: '/tls/server.key' };

/**
 * Starts one redis-server (MSM_TEST_REDIS: `container`, `binary`, or unset: a container when a
 * runtime with the image MSM_TEST_REDIS_IMAGE is reachable, else the binary); with `tlsFiles`,
 * it listens for TLS only.
 */
export async function startRedis(args: RedisArgs = [], tlsFiles?: TlsFiles): Promise<StorageServer> {
  const port = await freePort();
  const ping = (host: string, p: number) =>
    answering(() => (tlsFiles ? tlsPing(host, p, readFileSync(tlsFiles.ca)) : textCommand(host, p, 'PING\r\n', '\r\n')));
  let server: ServerProcess | ContainerServer;
  if ((await provider()) === 'container') {
    // The image's user must read the key, so the copies are world-readable (throwaway test files).
    const files = tlsFiles && (Object.keys(TLS_IN_CONTAINER) as (keyof TlsFiles)[]).map((name) => ({ source: tlsFiles[name], target: TLS_IN_CONTAINER[name], mode: 0o644 }));
    const command = ['redis-server', ...serverArgs(6379, args, tlsFiles && TLS_IN_CONTAINER)];
    server = (await import('./redis-container.js')).containerRedis(port, { command, files, answering: ping });
  } else {
    server = new ServerProcess(port, (p) => ['redis-server', ['--bind', '127.0.0.1', ...serverArgs(p, args, tlsFiles)]], ping);
  }
  await server.start();
  return server;
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl). */
export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'msm-redis-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=msm test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  // localhost too: a container engine's host may be named so.
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '1', '-extfile', file('ext.cnf'));
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}
