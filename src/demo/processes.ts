import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import readline from 'node:readline';

/** A child process the demo started, which it alone may signal. */
export interface Child {
  name: string;
  process: ChildProcess;
  alive(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a process and waits for it to be ready: for the first stdout line parsed as JSON (our
 * own processes print `{"port":N}`), or for `ready()` to resolve (memcached, nginx).
 */
export async function startChild(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { ready?: () => Promise<void>; timeoutMs?: number } = {},
): Promise<{ child: Child; line?: Record<string, unknown> }> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child: Child = {
    name,
    process: proc,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    kill: async (signal = 'SIGKILL') => {
      if (!child.alive()) return;
      proc.kill(signal);
      await exited;
    },
  };
  const timeout = options.timeoutMs ?? 10_000;
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready`)));
    setTimeout(() => reject(new Error(`${name} was not ready within ${timeout} ms`)), timeout).unref();
  });
  try {
    if (options.ready) {
      await Promise.race([options.ready(), failed]);
      return { child };
    }
    const lines = readline.createInterface({ input: proc.stdout! });
    const first = new Promise<string>((resolve) => lines.once('line', resolve));
    const line = JSON.parse(await Promise.race([first, failed])) as Record<string, unknown>;
    return { child, line };
  } catch (err) {
    await child.kill();
    throw err;
  }
}
