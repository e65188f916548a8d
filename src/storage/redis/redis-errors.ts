import { NodeAnswerError, NodeAuthError, NodeConnectionError } from '../call-fault.js';

/** Redis answered with an error reply (wrong type, out of memory, value too large, ...): the request's fault, never the node's. */
export class RedisReplyError extends NodeAnswerError {
  readonly code = 'EREDISREPLY';
  constructor(node: string, op: string, reply: string) {
    super(`redis ${node} ${op}: answered "${reply}"`, node, TOO_LARGE.test(reply));
    this.name = 'RedisReplyError';
  }
}

/**
 * A Redis node refused this app's credentials (WRONGPASS), asked for credentials and none are
 * configured (NOAUTH), or its ACL forbids a command this package needs (NOPERM).
 */
export class RedisAuthError extends NodeAuthError {
  override readonly code = 'EREDISAUTH';
  constructor(node: string, what: string, cause: Error, username: string | undefined) {
    super(`redis ${node}`, what, cause);
    this.name = 'RedisAuthError';
    const reply = cause.message;
    this.message = reply.startsWith('NOAUTH')
      ? `redis ${node} requires authentication: set the redisUsername and redisPassword options`
      : reply.startsWith('NOPERM')
        ? `redis ${node} refused a command to user "${username ?? 'default'}" (${reply}): its ACL must allow ${REQUIRED_ACL}`
        : `redis ${node} rejected the credentials of user "${username ?? 'default'}" (${reply}): check the redisUsername and redisPassword options`;
  }
}

/** The ACL rules a Redis user of this package needs (the commands it sends, and those its scripts call). */
export const REQUIRED_ACL = '~* +@read +@write +@scripting +time +info';

/** How Redis refuses an argument longer than its proto-max-bulk-len. */
const TOO_LARGE = /invalid bulk length|exceeds maximum allowed size/i;
/** Error replies about credentials and permissions (a script's command refused by the ACL says so in its own words). */
const AUTH = /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR AUTH\b|^ERR invalid password|^ERR The user executing the script can't/;
/** Error replies of a node that cannot serve right now (loading its data, stuck in a script, a read-only replica). */
const UNAVAILABLE = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * The error of a Redis call that failed with `cause`: an error reply (`isReply`) is the request's
 * fault unless it is about credentials or says the node cannot serve; an argument the client
 * cannot send (TypeError, RangeError) stays the request's; anything else the client reports
 * (refused, reset, closed, offline, TLS) is the connection's.
 */
export function redisError(node: string, what: string, cause: unknown, isReply: boolean, username: string | undefined): Error {
  if (cause instanceof TypeError || cause instanceof RangeError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (isReply && AUTH.test(message)) return new RedisAuthError(node, what, cause as Error, username);
  if (isReply && !UNAVAILABLE.test(message)) return new RedisReplyError(node, what, message);
  return new NodeConnectionError(`redis ${node}`, what, cause);
}
