import type { KeyObject } from 'node:crypto';
import { logEvent, ThrottledWarnings, type Logger } from '../../base/logger.js';
import type { NodeAddress } from '../node-list.js';
import { linkKey } from './peer-channel.js';
import { PeerConnection } from './peer-connection.js';
import { PeerEndpoint } from './peer-endpoint.js';
import { LocalTransport, PeerNode } from './peer-node.js';
import { MAX_MESSAGE_OVERHEAD } from './peer-protocol.js';
import { PeerStore } from './peer-store.js';
import { pullState } from './state-pull.js';
import type { CopyCodec } from '../../format/copy-codec.js';

/** What building the peer nodes needs. */
export interface PeerNodesOptions {
  /** Every peer, this process included. */
  nodes: readonly NodeAddress[];
  /** This process's id in `nodes`. */
  self: string;
  /** `all`: a starting process pulls every session's copy from a peer before it is ready. */
  replication: 'backup' | 'all';
  /** Whether a key is a session copy's (what a pull takes). */
  isSessionKey: (key: string) => boolean;
  /** How session copies are stored: this process's store applies deltas to them. */
  copies: CopyCodec;
  /** The `secret` option's list: the first authenticates this process to its peers, each is accepted from them. */
  secrets: readonly (string | KeyObject)[];
  operationTimeout: number;
  itemSizeLimit: number;
  logger: Logger;
}

/** Memory for the copies a process keeps for its peers; least recently used ones go beyond it. */
const STORE_BYTES = 512 * 1024 * 1024;
/** Connections an endpoint takes per configured peer: one for copies, one for messages, and reconnects that overlap for a moment. */
const CONNECTIONS_PER_PEER = 6;

/** The peer nodes, and when this process is ready to serve (see SessionMiddleware.ready). */
export interface PeerCluster {
  nodes: PeerNode[];
  /**
   * Resolves once the endpoint listens and, with `replication: 'all'`, the store holds a copy of
   * every session two peers had (see pullState); rejects when the endpoint cannot listen.
   */
  ready: Promise<void>;
}

/**
 * The storage nodes of replication between app processes: this process's own store (served to
 * the peers by an endpoint on its address, which starts listening now), and a client of each
 * other peer's endpoint.
 */
export function peerNodes(options: PeerNodesOptions): PeerCluster {
  const { nodes, self, operationTimeout, itemSizeLimit, logger } = options;
  const keys = options.secrets.map(linkKey);
  const maxBody = itemSizeLimit + MAX_MESSAGE_OVERHEAD;
  const store = new PeerStore({ itemSizeLimit, maxBytes: STORE_BYTES }, Date.now, options.copies);
  const address = nodes.find((node) => node.id === self)!;
  const warnings = new ThrottledWarnings(logger);
  const endpoint = new PeerEndpoint(
    address,
    keys,
    store,
    { maxConnections: CONNECTIONS_PER_PEER * nodes.length, maxBody, handshakeTimeout: Math.max(1000, operationTimeout) },
    (reason, remote) => warnings.warn(`peer_refused:${reason}`, { event: 'peer_connection_refused', reason, remote }, `peer endpoint ${self} closed a connection from ${remote}: ${reason}`),
  );
  const built = nodes.map((node) =>
    node.id === self
      ? new PeerNode(node.id, new LocalTransport(store, () => void endpoint.close()), itemSizeLimit)
      : new PeerNode(
          node.id,
          new PeerConnection(node, keys[0], { operationTimeout, maxBody }),
          itemSizeLimit,
          new PeerConnection(node, keys[0], { operationTimeout, maxBody }),
        ),
  );
  const listening = endpoint.listen().then(
    () => logEvent(logger, 'info', { event: 'peer_endpoint_listening', node: self }, `peer endpoint ${self} listening on ${address.host}:${address.port}`),
    (err: unknown) => {
      logEvent(logger, 'error', { event: 'peer_endpoint_failed', node: self }, `peer endpoint ${self} cannot listen on ${address.host}:${address.port}: ${(err as Error).message}`);
      throw err;
    },
  );
  // Listening first: what owners write here during the pull is newer than what it brings.
  const ready = options.replication === 'backup' ? listening : listening.then(() => pull(store, built.filter((node) => node.id !== self), options, logger));
  // Handled here (logged above): a process that never waits for it is not ended by its rejection.
  ready.catch(() => undefined);
  return { nodes: built, ready };
}

async function pull(store: PeerStore, peers: PeerNode[], options: PeerNodesOptions, logger: Logger): Promise<void> {
  const started = performance.now();
  const { from, copies } = await pullState(store, peers, options.isSessionKey);
  const ms = Math.round(performance.now() - started);
  const source = from.length > 0 ? `peer(s) ${from.join(', ')}` : 'no peer (none holds sessions: it starts empty)';
  logEvent(logger, 'info', { event: 'peer_state_pulled', node: options.self, from, copies, ms }, `peer ${options.self} took ${copies} session copies from ${source} in ${ms} ms`);
}
