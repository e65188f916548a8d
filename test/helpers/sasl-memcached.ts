/**
 * A memcached binary with SASL on (`memcached -S`), its users in a sasldb made with Debian's
 * sasl2-bin (`saslpasswd2`). Containers are not used here: the image has no sasldb tooling.
 * Only the process started here is ever signalled, by its own PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './memcached.js';

/** Why SASL tests cannot run here (a tool is missing), or undefined when they can. */
export function saslUnavailable(): string | undefined {
  if (spawnSync('memcached', ['-h'], { stdio: 'ignore' }).status !== 0) return 'the memcached binary is not installed';
  if (spawnSync('saslpasswd2', ['-v'], { stdio: 'ignore' }).error) return 'saslpasswd2 (Debian sasl2-bin) is not installed';
  return undefined;
}

export interface SaslMemcached {
  /** `host:port` */
  address: string;
  stop(): Promise<void>;
}

/** Resolves once something accepts connections on `port` (SASL memcached refuses the text `stats` a ping would send). */
async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`SASL memcached on port ${port} did not start`);
}

/** Starts `memcached -S` accepting `user` with `password` (PLAIN). */
export async function startSaslMemcached(user: string, password: string): Promise<SaslMemcached> {
  const dir = mkdtempSync(join(tmpdir(), 'msm-sasl-'));
  const db = join(dir, 'memcached-sasl.db');
  const made = spawnSync('saslpasswd2', ['-a', 'memcached', '-c', '-p', '-f', db, user], { input: password });
  if (made.status !== 0) throw new Error(`saslpasswd2 failed: ${made.stderr}`);
  writeFileSync(join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
  const port = await freePort();
  const args = ['-S', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16'];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  const child: ChildProcess = spawn('memcached', args, { stdio: 'ignore', env: { ...process.env, SASL_CONF_PATH: dir } });
  await waitForPort(port);
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
