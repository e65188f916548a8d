/**
 * A storage server (memcached or redis-server) in its own process, for integration tests: real
 * signals (SIGKILL, SIGSTOP, SIGCONT), restarts on the same address. Only the process started
 * here is ever signalled, by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The process state letter from /proc (T = stopped), or undefined when it cannot be read. */
function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  } catch {
    return undefined;
  }
}

/** A running storage server, whatever the backend or provider. */
export interface StorageServer {
  readonly host: string;
  readonly port: number;
  /** `host:port` */
  readonly address: string;
  /**
   * Sends a signal to the server process, or the same fault to its container: SIGSTOP hangs
   * it (a container is paused), SIGCONT resumes it, SIGKILL/SIGTERM end it (connections are
   * refused). Resolves once the fault is in effect.
   */
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same address, empty (also after SIGKILL). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The command line that starts one server on `port`. */
export type Launcher = (port: number) => [string, string[]];

export class ServerProcess implements StorageServer {
  readonly host = '127.0.0.1';
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly launcher: Launcher,
    /** Resolves once the server answers on its port. */
    private readonly answering: (host: string, port: number) => Promise<void>,
  ) {}
  get address(): string {
    return `${this.host}:${this.port}`;
  }
  async start(): Promise<void> {
    const [command, args] = this.launcher(this.port);
    this.child = spawn(command, args, { stdio: 'ignore' });
    await this.answering(this.host, this.port);
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
