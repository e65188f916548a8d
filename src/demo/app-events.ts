// The log channel from the demo's app nodes to its terminal: each app node writes the session
// manager's log events to stdout as JSON lines, and the demo prints them under the app's name.
import type { Logger } from '../base/logger.js';

/** A change in one app node's view of a storage node. */
export interface NodeChange {
  app: string;
  /** The backend: memcached or redis. */
  kind: string;
  node: string;
  event: 'down' | 'up' | 'restarted';
  reason: string;
}

const TAG = '[memcached-session-manager] ';
const CHANGE = /^(memcached|redis)_node_(down|up|restarted)$/;
/** Events left out of the terminal: `relocation_finished` follows at once and says more. */
const QUIET = new Set(['relocation_started']);

/** A logger (for the app node's session middleware) that writes each event as one JSON line. */
export function jsonLineLogger(write: (line: string) => void): Logger {
  const at =
    (level: keyof Logger) =>
    (first: unknown, ...rest: unknown[]): void => {
      const [fields, message] = typeof first === 'string' ? [{}, first] : [first, rest[0]];
      write(JSON.stringify({ level, fields, message: String(message ?? '') }) + '\n');
    };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** One stdout line of app node `app`: a storage node change, the line to print, or undefined to print nothing. */
export function readAppLine(app: string, text: string): NodeChange | string | undefined {
  let entry: { fields?: Record<string, unknown>; message?: unknown };
  try {
    entry = JSON.parse(text) as typeof entry;
  } catch {
    return `${app}: ${text}`;
  }
  const fields = entry?.fields ?? {};
  if (QUIET.has(String(fields.event))) return undefined;
  const change = CHANGE.exec(String(fields.event));
  if (change && typeof fields.node === 'string') {
    return { app, kind: change[1], node: fields.node, event: change[2] as NodeChange['event'], reason: String(fields.reason ?? '') };
  }
  const message = String(entry?.message ?? text);
  return `${app}: ${message.startsWith(TAG) ? message.slice(TAG.length) : message}`;
}

const WORDS: Record<NodeChange['event'], string> = { down: 'is down', up: 'is up again', restarted: 'restarted empty' };

/**
 * Prints one line per memcached node change, naming the app nodes that saw it. Each app node
 * checks the memcached nodes on its own, so one kill is seen once by every app node, a
 * health-check round or two apart: reports are gathered until every running app node has
 * reported, or `windowMs` has passed.
 */
export class NodeChangeLines {
  private readonly pending = new Map<string, { kind: string; event: NodeChange['event']; reason: string; apps: string[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly print: (line: string) => void,
    /** How many app nodes are running (each will report). */
    private readonly watchers: () => number,
    private readonly windowMs = 3000,
  ) {}

  report(change: NodeChange): void {
    if (this.pending.get(change.node)?.event !== change.event) this.flush(change.node);
    let entry = this.pending.get(change.node);
    if (!entry) {
      const timer = setTimeout(() => this.flush(change.node), this.windowMs);
      timer.unref();
      entry = { kind: change.kind, event: change.event, reason: change.reason, apps: [], timer };
      this.pending.set(change.node, entry);
    }
    if (!entry.apps.includes(change.app)) entry.apps.push(change.app);
    if (entry.apps.length >= this.watchers()) this.flush(change.node);
  }

  private flush(node: string): void {
    const entry = this.pending.get(node);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(node);
    const apps = entry.apps.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    this.print(`${entry.kind} ${node} ${WORDS[entry.event]}, seen by ${apps.join(', ')} (${entry.reason})`);
  }

  /** Prints what is still gathering. */
  close(): void {
    for (const node of [...this.pending.keys()]) this.flush(node);
  }
}
