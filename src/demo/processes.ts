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
 * Starts a process and waits for it to be ready: for a stdout line `{"port":N,...}` (our own
 * processes print one when they listen), or for `ready()` to resolve (memcached, nginx). Every
 * other stdout line goes to `onLine`.
 */
export async function startChild(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { ready?: () => Promise<void>; timeoutMs?: number; onLine?: (line: string) => void } = {},
): Promise<Child> {
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
  // Generous: a Node process can take several seconds to start on a loaded machine.
  const timeout = options.timeoutMs ?? 30_000;
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready`)));
    setTimeout(() => reject(new Error(`${name} was not ready within ${timeout} ms`)), timeout).unref();
  });
  try {
    if (options.ready) {
      await Promise.race([options.ready(), failed]);
      return child;
    }
    const listening = new Promise<void>((resolve) => {
      readline.createInterface({ input: proc.stdout! }).on('line', (text) => {
        if (isPortLine(text)) resolve();
        else options.onLine?.(text);
      });
    });
    await Promise.race([listening, failed]);
    return child;
  } catch (err) {
    await child.kill();
    throw err;
  }
}

function isPortLine(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && 'port' in value;
  } catch {
    return false;
  }
}
