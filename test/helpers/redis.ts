/**
 * Real redis-server processes for integration tests: the local `redis-server` binary on a free
 * loopback port, without persistence (a restart comes back empty, as a restarted memcached does).
 * Only processes started here are ever signalled, by their own PID.
 */
import { freePort, textCommand } from './memcached.js';
import { ServerProcess, type StorageServer } from './server-process.js';

/** Extra redis-server arguments: `--requirepass`, `--user` ACL rules, `--proto-max-bulk-len`, ... */
export type RedisArgs = string[];

/** Resolves once the server answers PING (with PONG, or NOAUTH when it wants a password). */
async function answering(host: string, port: number, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await textCommand(host, port, 'PING\r\n', '\r\n');
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Starts one redis-server. */
export async function startRedis(args: RedisArgs = []): Promise<StorageServer> {
  const port = await freePort();
  const server = new ServerProcess(
    port,
    (p) => ['redis-server', ['--bind', '127.0.0.1', '--port', String(p), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args]],
    answering,
  );
  await server.start();
  return server;
}
