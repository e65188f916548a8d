import { OptionError } from '../base/errors.js';

/** `lockingMode` values (MSM's): `none`, `all`, `auto`, or `uriPattern:<regex>` matched against the path. */
export type LockingMode = { kind: 'none' } | { kind: 'all' } | { kind: 'auto' } | { kind: 'uriPattern'; pattern: RegExp };

export function parseLockingMode(value: unknown): LockingMode {
  if (value === undefined || value === 'none') return { kind: 'none' };
  if (value === 'all' || value === 'auto') return { kind: value };
  if (typeof value === 'string' && value.startsWith('uriPattern:')) {
    try {
      return { kind: 'uriPattern', pattern: new RegExp(value.slice('uriPattern:'.length)) };
    } catch (err) {
      throw new OptionError('lockingMode', `has an invalid uriPattern regular expression: ${(err as Error).message}`);
    }
  }
  throw new OptionError('lockingMode', `must be "none", "all", "auto" or "uriPattern:<regex>", got ${JSON.stringify(value)}`);
}

/** Read-only observations before `auto` stops locking a request kind. */
const LEARN_AFTER = 2;
/** Request kinds remembered by `auto`; past this, unknown kinds are simply locked. */
const MAX_KINDS = 10_000;

/**
 * Decides which requests lock their session. `auto` learns, per method + path, the requests
 * that never modify the session and skips locking them; one that does modify is locked from
 * then on.
 */
export class LockingPolicy {
  private readonly kinds = new Map<string, { readOnly: number; modifies: boolean }>();

  constructor(readonly mode: LockingMode) {}

  shouldLock(method: string, path: string): boolean {
    switch (this.mode.kind) {
      case 'none':
        return false;
      case 'all':
        return true;
      case 'uriPattern':
        return this.mode.pattern.test(path);
      case 'auto': {
        const kind = this.kinds.get(`${method} ${path}`);
        return !kind || kind.modifies || kind.readOnly < LEARN_AFTER;
      }
    }
  }

  /** Records how a request ended, for `auto`. */
  observe(method: string, path: string, modified: boolean): void {
    if (this.mode.kind !== 'auto') return;
    const name = `${method} ${path}`;
    let kind = this.kinds.get(name);
    if (!kind) {
      if (this.kinds.size >= MAX_KINDS) return;
      kind = { readOnly: 0, modifies: false };
      this.kinds.set(name, kind);
    }
    if (modified) kind.modifies = true;
    else kind.readOnly++;
  }
}
