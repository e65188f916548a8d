import { OP, Request, STATUS } from './peer-protocol.js';
import type { PeerNode } from './peer-node.js';
import type { PeerStore } from './peer-store.js';

/** How many copies a pull added, and from which peers. */
export interface PulledState {
  from: string[];
  copies: number;
}

/**
 * Peers a pull takes the state of: each holds a copy of every session but its own (kept in its
 * memory), so two together hold every one.
 */
const SOURCES = 2;

/**
 * Copies into `store` every item that `keep` selects from two peers (`replication: 'all'`: a
 * process that starts empty first takes every session's copy). Peers are asked in turn, each
 * scanned page by page (every page a call with a deadline); one that fails or holds nothing (it
 * may have just restarted too) passes the turn to the next. An item is added only where the store
 * holds none: a copy an owner wrote here meanwhile is newer than the one pulled.
 */
export async function pullState(store: PeerStore, peers: readonly PeerNode[], keep: (key: string) => boolean): Promise<PulledState> {
  const pulled: PulledState = { from: [], copies: 0 };
  for (const peer of peers) {
    if (pulled.from.length === SOURCES) break;
    let copies = 0;
    let seen = 0;
    try {
      for (let after = '', more = true; more; ) {
        const page = await peer.scan(after);
        for (const item of page.items) {
          seen++;
          if (!keep(item.key)) continue;
          // ttl 0 is "never expires" for the store as for the scan.
          if (store.answer(new Request(OP.add, item.key, item.ttl, 0n, item.value)).status === STATUS.ok) copies++;
        }
        more = page.more && page.items.length > 0;
        if (more) after = page.items[page.items.length - 1].key;
      }
    } catch {
      // Copies added before the failure stay: each was a peer's current one.
    }
    pulled.copies += copies;
    if (seen > 0) pulled.from.push(peer.id);
  }
  return pulled;
}
