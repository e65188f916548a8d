import { OptionError } from '../base/errors.js';

/** One storage node as configured: `id:host:port`. */
export interface NodeAddress {
  id: string;
  host: string;
  port: number;
}

const ENTRY = /^([A-Za-z0-9_-]+):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** An example list for an option's messages (`memcachedNodes`'s unless named here). */
const EXAMPLES: Record<string, string> = { redisNodes: 'r1:127.0.0.1:6379,r2:127.0.0.1:6380' };

/**
 * Parses MSM's `memcachedNodes` syntax: `n1:host:port,n2:host:port` (commas or spaces); `option`
 * names the option in error messages (`redisNodes` and `peers` use the same syntax).
 */
export function parseNodeList(value: unknown, option = 'memcachedNodes'): NodeAddress[] {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new OptionError(option, `must be a string like "${EXAMPLES[option] ?? 'n1:127.0.0.1:11211,n2:127.0.0.1:11212'}"`);
  }
  const nodes: NodeAddress[] = [];
  for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
    const match = ENTRY.exec(entry);
    const port = match ? Number(match[3]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new OptionError(option, `has an invalid entry ${JSON.stringify(entry)}; expected "id:host:port"`);
    }
    if (nodes.some((node) => node.id === match[1])) {
      throw new OptionError(option, `names node id "${match[1]}" twice`);
    }
    nodes.push({ id: match[1], host: match[2].replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
}

/**
 * Parses `failoverNodes` (node ids); each must be configured (in `listOption`), and at least one
 * node must remain regular.
 */
export function parseFailoverNodes(value: unknown, nodes: NodeAddress[], listOption = 'memcachedNodes'): string[] {
  if (value === undefined || value === '') return [];
  if (typeof value !== 'string') throw new OptionError('failoverNodes', 'must be a string of node ids like "n1"');
  const ids = value.split(/[\s,]+/).filter(Boolean);
  for (const id of ids) {
    if (!nodes.some((node) => node.id === id)) {
      throw new OptionError('failoverNodes', `names unknown node id "${id}" (not in ${listOption})`);
    }
  }
  if (ids.length >= nodes.length) {
    throw new OptionError('failoverNodes', 'lists every node; at least one node must not be a failover node');
  }
  return ids;
}
