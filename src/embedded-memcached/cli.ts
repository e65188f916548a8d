#!/usr/bin/env node
// Runs one embedded memcached-compatible node in its own process:
//   node cli.js --port 11211 [--host 127.0.0.1] [--memory-mb 64] [--max-item-size 1048576]
import { parseArgs } from 'node:util';
import { EmbeddedMemcached } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '11211' },
    host: { type: 'string', default: '127.0.0.1' },
    'memory-mb': { type: 'string', default: '64' },
    'max-item-size': { type: 'string', default: String(1024 * 1024) },
  },
});
const server = new EmbeddedMemcached({
  port: Number(values.port),
  host: values.host,
  maxBytes: Number(values['memory-mb']) * 1024 * 1024,
  itemSizeLimit: Number(values['max-item-size']),
});
const port = await server.listen();
process.stdout.write(JSON.stringify({ port, pid: process.pid }) + '\n');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void server.close().then(() => process.exit(0)));
