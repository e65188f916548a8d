import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const script = fileURLToPath(new URL('../fixtures/app-node.mjs', import.meta.url));

/** An app node in its own process (so it can be SIGKILLed like a crashed server). */
export interface AppProcess {
  url: string;
  child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startApp(name: string, options: Record<string, unknown>): Promise<AppProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, NODE_NAME: name, MSM_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`app ${name} exited with ${code} before listening`)));
    lines.once('line', (line) => resolve(JSON.parse(line).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}
