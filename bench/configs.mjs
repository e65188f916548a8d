// The benchmarked configurations, one line each: name → middleware factory (undefined: no sessions).
// `store` says which external store the configuration needs started; `workloads` adds runs beyond
// read-heavy and write-heavy; `logins` logs each session in as a user of its own. To add a configuration, add a line here.
import expressSession from 'express-session';
import { createRequire } from 'node:module';
import session from '../dist/esm/index.js';
import { apiFloor } from './api-floor.mjs';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const common = { secret: 'bench secret', resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } };
const quiet = { info() {}, warn() {}, error() {} };
const hostsOf = (nodes) => nodes.split(',').map((n) => n.split(':').slice(1).join(':'));
/** The bench's one redis-server as this package's `redisNodes`. */
const redisNodesOf = (url) => `r1:${new URL(url).host}`;

async function connectRedis(url) {
  const { default: RedisStore } = await import('connect-redis');
  const { createClient } = await import('redis');
  const client = createClient({ url });
  await client.connect();
  return expressSession({ ...common, store: new RedisStore({ client }) });
}

/** `env`: { memcached: 'n1:host:port,…', redis: 'redis://…', peers: 'a:host:port,…', maxLocal }. */
export const CONFIGS = {
  express: { make: () => undefined },
  // A lower bound, not a session manager: see bench/api-floor.mjs.
  'api floor': { workloads: ['read-only'], make: () => apiFloor() },
  'express-session+MemoryStore': { make: () => expressSession({ ...common }) },
  'express-session+connect-memcached': { store: 'memcached', make: (env) => expressSession({ ...common, store: new (require('connect-memcached')(expressSession))({ hosts: hostsOf(env.memcached) }) }) },
  'express-session+connect-redis': { store: 'redis', make: (env) => connectRedis(env.redis) },
  'msm sticky': { store: 'memcached', workloads: ['read-only'], make: (env) => session({ ...common, memcachedNodes: env.memcached, maxLocalSessions: env.maxLocal, logger: quiet }) },
  // Sticky mode checks every locally held session for a revocation tombstone by default; this
  // configuration shows what relaxing that bound to 1 s saves on the read path.
  'msm sticky (revocationCheckInterval 1000)': { store: 'memcached', workloads: ['read-only'], make: (env) => session({ ...common, memcachedNodes: env.memcached, maxLocalSessions: env.maxLocal, revocationCheckInterval: 1000, logger: quiet }) },
  // Every session logged in as its own user: the per-user index a user's sessions need (recorded
  // at login; a read pays nothing more).
  'msm sticky (a user per session)': { store: 'memcached', logins: true, make: (env) => session({ ...common, memcachedNodes: env.memcached, maxLocalSessions: env.maxLocal, logger: quiet }) },
  'msm non-sticky (locking none)': { store: 'memcached', workloads: ['read-only', 'write-only'], make: (env) => session({ ...common, memcachedNodes: env.memcached, sticky: false, logger: quiet }) },
  'msm non-sticky (a user per session)': { store: 'memcached', logins: true, make: (env) => session({ ...common, memcachedNodes: env.memcached, sticky: false, logger: quiet }) },
  // Stored copies are sealed (AES-256-GCM) by default; this configuration keeps them authenticated
  // but readable, to show what encryption itself costs per load and save.
  'msm non-sticky (encryptSessions false)': { store: 'memcached', workloads: ['read-only', 'write-only'], make: (env) => session({ ...common, memcachedNodes: env.memcached, sticky: false, encryptSessions: false, logger: quiet }) },
  'msm non-sticky (one node)': { store: 'memcached', make: (env) => session({ ...common, memcachedNodes: env.memcached.split(',')[0], sticky: false, logger: quiet }) },
  'msm non-sticky (locking all)': { store: 'memcached', make: (env) => session({ ...common, memcachedNodes: env.memcached, sticky: false, lockingMode: 'all', logger: quiet }) },
  // This package over the same redis-server as connect-redis (one node: a session's second copy has nowhere to go).
  'msm sticky redis': { store: 'redis', workloads: ['read-only'], make: (env) => session({ ...common, redisNodes: redisNodesOf(env.redis), maxLocalSessions: env.maxLocal, logger: quiet }) },
  'msm non-sticky redis (locking none)': { store: 'redis', workloads: ['read-only', 'write-only'], make: (env) => session({ ...common, redisNodes: redisNodesOf(env.redis), sticky: false, logger: quiet }) },
  // Replication between app processes: this server is peer a of three, bench/peer.mjs runs b and c
  // (`replication` is the option every peer is given).
  'msm sticky peers (backup)': { store: 'peers', replication: 'backup', workloads: ['read-only'], make: (env) => session({ ...common, peers: env.peers, self: 'a', maxLocalSessions: env.maxLocal, logger: quiet }) },
  'msm sticky peers (all)': { store: 'peers', replication: 'all', make: (env) => session({ ...common, peers: env.peers, self: 'a', replication: 'all', maxLocalSessions: env.maxLocal, logger: quiet }) },
  'msm non-sticky redis (locking all)': { store: 'redis', make: (env) => session({ ...common, redisNodes: redisNodesOf(env.redis), sticky: false, lockingMode: 'all', logger: quiet }) },
};

// BENCH_BASELINE=<another checkout's dist/esm/index.js> adds this package's main rows from that
// build, so a change is measured against what it changes in the same run (before and after).
if (process.env.BENCH_BASELINE) {
  const { default: baseline } = await import(pathToFileURL(process.env.BENCH_BASELINE).href);
  Object.assign(CONFIGS, {
    'baseline: msm sticky': { store: 'memcached', make: (env) => baseline({ ...common, memcachedNodes: env.memcached, maxLocalSessions: env.maxLocal, logger: quiet }) },
    'baseline: msm non-sticky (locking none)': { store: 'memcached', make: (env) => baseline({ ...common, memcachedNodes: env.memcached, sticky: false, logger: quiet }) },
    'baseline: msm non-sticky (locking all)': { store: 'memcached', make: (env) => baseline({ ...common, memcachedNodes: env.memcached, sticky: false, lockingMode: 'all', logger: quiet }) },
  });
}
