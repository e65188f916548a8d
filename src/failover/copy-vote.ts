import type { VersionedCopy } from '../format/versioned-copy.js';

/*
 * Which copy of a session wins when its nodes disagree: the highest version; within it, the
 * content most nodes hold. Pure functions over what a read found.
 */

/** What one node answered a read with (a class, as LoadedFence). */
export class Found {
  constructor(
    readonly node: string,
    readonly copy?: VersionedCopy,
  ) {}
}

/**
 * The newest of the copies found (in ring order). Two copies of one version with different
 * content mean a write that was refused left its copy behind (a repair had spread it) while
 * another write of that version was acknowledged: acknowledged versions are on two nodes, so the
 * content most nodes hold wins (on a tie, the first in ring order). Writes in flight make either
 * count misleading (two copies of a write that is then refused, one copy of a write about to be
 * acknowledged), so the winner is in doubt (see CopyReader.read).
 * `contested`: the newest version has more than one content. `unvouched`: the newest copy is on
 * one node while another of the session's own `nodes` holds an older version (a write in flight,
 * which may yet be refused and undone, looks like that; a copy left on the node asked in
 * addition by an earlier fault does not count).
 */
export function newestOf(found: readonly Found[], nodes: readonly string[]): Newest {
  let version = -1;
  for (const { copy } of found) if (copy && copy.version > version) version = copy.version;
  const { copy, count, contested } = agreedOn(found, version) ?? voteOn(found, version);
  const unvouched = count === 1 && found.some(({ node, copy }) => copy && copy.version < version && nodes.includes(node));
  return new Newest(copy, contested, unvouched);
}

/** What newestOf found (a class, as LoadedFence). */
export class Newest {
  constructor(
    readonly copy: VersionedCopy | undefined,
    readonly contested: boolean,
    readonly unvouched: boolean,
  ) {}
}

/** The copy that won a version, how many copies hold it, and whether they disagreed (a class, as LoadedFence). */
class Winner {
  constructor(
    readonly copy: VersionedCopy | undefined,
    readonly count: number,
    readonly contested: boolean,
  ) {}
}

/** The winner of `version` and how many copies hold it: the usual case, when all its copies have one content (else undefined). */
function agreedOn(found: readonly Found[], version: number): Winner | undefined {
  let first: VersionedCopy | undefined;
  let count = 0;
  for (const { copy } of found) {
    if (!copy || copy.version !== version) continue;
    if (first && copy.json !== first.json) return undefined;
    first ??= copy;
    count++;
  }
  return new Winner(first, count, false);
}

/** The content of `version` most copies hold (on a tie, the first in ring order), when they differ. */
function voteOn(found: readonly Found[], version: number): Winner {
  const votes = new Map<string, { copy: VersionedCopy; count: number }>();
  for (const { copy } of found) {
    if (!copy || copy.version !== version) continue;
    const entry = votes.get(copy.json);
    if (entry) entry.count++;
    else votes.set(copy.json, { copy, count: 1 });
  }
  const ranked = [...votes.values()].sort((a, b) => b.count - a.count); // stable: ring order on a tie
  return new Winner(ranked[0].copy, ranked[0].count, true);
}

/** Whether `copy` is `than` (the same version with the same content) or newer. */
export function sameOrNewer(copy: VersionedCopy, than: VersionedCopy): boolean {
  return copy.version > than.version || (copy.version === than.version && copy.json === than.json);
}

