import type { Sealing } from '../format/sealing.js';
import type { StorageCluster } from './cluster.js';
import type { Statistics } from '../base/statistics.js';
import { READ_NODES, SessionCopies } from './session-copies.js';
import { sealedCopies, UNSEALED_COPIES } from '../format/copy-codec.js';
import { unsealedKey } from '../format/storage-key.js';
import { isDestroyed } from '../format/versioned-copy.js';
import { SessionConflictError } from '../base/errors.js';

/** What OlderCopies reads of the settings. */
export interface OlderCopiesSettings {
  sealing: Sealing;
  acceptUnsealedSessions: boolean;
  storageKeyPrefix: string;
}

/** Where an older copy of a session may be, and how to read it. */
interface OlderPlace {
  key: string;
  copies: SessionCopies;
}

/**
 * Copies of a session stored under another key than its current one: named with an older secret
 * of the `secret` list (before a rotation), or unsealed under the raw id by a version before
 * sealing (looked for only with `acceptUnsealedSessions`). Looked for only when the current key
 * holds nothing, so with one secret and no migration this costs nothing.
 */
export class OlderCopies {
  private readonly sealed: SessionCopies;
  private readonly unsealed: SessionCopies | undefined;

  constructor(
    private readonly settings: OlderCopiesSettings,
    cluster: StorageCluster,
    stats: Statistics,
    private readonly current: SessionCopies,
    private readonly copiesKept: number,
  ) {
    this.sealed = new SessionCopies(cluster, stats, sealedCopies(settings.sealing), copiesKept);
    this.unsealed = settings.acceptUnsealedSessions ? new SessionCopies(cluster, stats, UNSEALED_COPIES, copiesKept) : undefined;
  }

  private placesOf(id: string): OlderPlace[] {
    const places = this.settings.sealing.olderSessionKeys(id).map((key) => ({ key, copies: this.sealed }));
    const raw = unsealedKey(this.settings.storageKeyPrefix, id);
    if (this.unsealed && raw !== undefined) places.push({ key: raw, copies: this.unsealed });
    return places;
  }

  /**
   * Moves the newest copy found under an older key of session `id` to `key`, sealed with the
   * current secret (only where `key` holds nothing, so a newer copy is never replaced), and
   * deletes the old copies. True when the session now has a copy under `key` to read. Rejects
   * like SessionCopies.read when a node that may hold a copy cannot be read or written.
   */
  async adopt(id: string, key: string): Promise<boolean> {
    for (const { key: oldKey, copies } of this.placesOf(id)) {
      // A node that may hold the old copy and cannot be read fails the load (503), as for the current key.
      const copy = (await copies.read(oldKey)).copy;
      if (!copy) continue;
      if (!isDestroyed(copy)) {
        try {
          await this.current.writeFenced(key, copy, this.current.nodesFor(key, this.copiesKept), { cas: new Map() });
        } catch (err) {
          // Another request moved it first: its copy is there to read.
          if (!(err instanceof SessionConflictError)) throw err;
        }
      }
      void copies.delete(oldKey, copies.nodesFor(oldKey, READ_NODES + 1));
      return !isDestroyed(copy);
    }
    return false;
  }
}
