import { createHash } from 'node:crypto';

/**
 * The Lua scripts that make each versioned operation one round trip. An item is a hash: `v` its
 * value, `n` its version. KEYS[1] is the item.
 */
export interface RedisScript {
  readonly source: string;
  /** SHA1 of the source, for EVALSHA. */
  readonly sha: string;
}

function script(source: string): RedisScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * The node-wide high-water mark of versions (KEYS[2] of a write): a space keeps it apart from
 * every key this package makes (memcached rules: no spaces).
 */
export const VERSION_MARK_KEY = 'memcached-session-manager version';

/** Sets KEYS[1]'s lifetime to ARGV[ttl] ms; 0 = never expires. */
const expire = (ttl: number) =>
  `if tonumber(ARGV[${ttl}]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[${ttl}]) else redis.call('PERSIST', KEYS[1]) end`;

/** The body of WRITE, shared with WRITE_AND_PUBLISH. */
const WRITE_BODY = `
local old
if ARGV[3] == 'add' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return false end
else
  old = redis.call('HGET', KEYS[1], 'n')
  if ARGV[3] ~= 'set' and old ~= ARGV[3] then return false end
end
local t = redis.call('TIME')
local n = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(redis.call('GET', KEYS[2]) or 0) + 1, tonumber(old or 0) + 1)
n = string.format('%.0f', n)
redis.call('SET', KEYS[2], n)
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', n)
${expire(2)}`;

/**
 * set, add or compare-and-set. ARGV: value, lifetime in ms, then `set`, `add` or the version
 * the item must still have. Returns the new version, or nil when refused. A new version is above
 * the item's last one, above every version this server handed out since the mark was written
 * (like memcached's CAS), and at least the server's clock in microseconds: a mark lost with the
 * data (restart, FLUSHALL, eviction) restarts above every earlier version unless the clock went
 * back. (Restarts are also fenced by the connection a version came over: see RedisNode.)
 */
export const WRITE = script(`${WRITE_BODY}
return n
`);

/**
 * WRITE that also publishes `<version> <ARGV[5]> <value>` on channel ARGV[4] in the same step.
 * Returns {version, receivers}, or nil when refused.
 */
export const WRITE_AND_PUBLISH = script(`${WRITE_BODY}
return {n, redis.call('PUBLISH', ARGV[4], n .. ' ' .. ARGV[5] .. ' ' .. ARGV[1])}
`);

/** Value and version (an array), the lifetime set to ARGV[1] ms in the same step; nil when absent. */
export const READ_AND_TOUCH = script(`
local item = redis.call('HMGET', KEYS[1], 'v', 'n')
if not item[1] then return false end
${expire(1)}
return item
`);

/** 1 after setting the lifetime to ARGV[1] ms, 0 when the item is absent. */
export const TOUCH = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
${expire(1)}
return 1
`);

/** Deletes the item if it still has version ARGV[1]: 1, else 0. */
export const DELETE_IF = script(`
if redis.call('HGET', KEYS[1], 'n') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/** Publishes `<ARGV[2]> <version> <value>` of KEYS[1] (`0` and nothing when absent) on channel ARGV[1]; returns the receivers. */
export const PUBLISH_STATE = script(`
local item = redis.call('HMGET', KEYS[1], 'v', 'n')
return redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. (item[2] or '0') .. ' ' .. (item[1] or ''))
`);
