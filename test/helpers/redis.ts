/**
 * Real redis-server processes for integration tests: the local `redis-server` binary on a free
 * loopback port, without persistence (a restart comes back empty, as a restarted memcached does),
 * optionally speaking TLS only. Only processes started here are ever signalled, by their own PID.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { freePort, textCommand } from './memcached.js';
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

/** Starts one redis-server; with `tlsFiles`, it listens for TLS only. */
export async function startRedis(args: RedisArgs = [], tlsFiles?: TlsFiles): Promise<StorageServer> {
  const port = await freePort();
  const listen = (p: number) =>
    tlsFiles
      ? ['--port', '0', '--tls-port', String(p), '--tls-cert-file', tlsFiles.cert, '--tls-key-file', tlsFiles.key, '--tls-ca-cert-file', tlsFiles.ca, '--tls-auth-clients', 'no']
      : ['--port', String(p)];
  const ping = (host: string, p: number) =>
    answering(() => (tlsFiles ? tlsPing(host, p, readFileSync(tlsFiles.ca)) : textCommand(host, p, 'PING\r\n', '\r\n')));
  const server = new ServerProcess(port, (p) => ['redis-server', ['--bind', '127.0.0.1', ...listen(p), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args]], ping);
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
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '1', '-extfile', file('ext.cnf'));
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}
