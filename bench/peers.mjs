// Replication between app processes (`peers`): what one session change costs on the peer links,
// for 2, 3, 5 and 8 app nodes in each replication mode. The app nodes run in this process (each
// its own session middleware and peer endpoint on loopback); one of them serves every request.
// Messages are peer requests sent (each answered by one response), by operation, counted on the
// package's storage trace point as an operator's tool would; bytes are what the peer links carry
// both ways (frames, as written to their sockets). Run: npm run build && node bench/peers.mjs
import http from 'node:http';
import net from 'node:net';
import diagnostics from 'node:diagnostics_channel';
import session from '../dist/esm/index.js';
import { freePort } from './free-port.mjs';

const NODES = (process.env.BENCH_PEER_NODES ?? '2,3,5,8').split(',').map(Number);
const SESSIONS = Number(process.env.BENCH_PEER_SESSIONS ?? 200);
// Session sizes: a change to a session over a KB travels as a delta (its changed attributes).
const PAYLOADS = (process.env.BENCH_PEER_PAYLOADS ?? '200,20000').split(',').map(Number);

// Bytes on the peer links: every socket write whose one end is a peer endpoint.
const peerPorts = new Set();
let bytes = 0;
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (chunk, ...rest) {
  if (peerPorts.has(this.remotePort) || peerPorts.has(this.localPort)) bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  return write.call(this, chunk, ...rest);
};

// Messages: storage calls to nodes other than the serving one (its own store answers in-process);
// health checks (`instance`, twice a second per peer whatever the traffic) are left out.
const messages = new Map();
const serving = 'a';
diagnostics.tracingChannel('memcached-session-manager:storage').subscribe({
  start: (context) => {
    if (context.kind === 'peer' && context.node !== serving && context.operation !== 'instance') messages.set(context.operation, (messages.get(context.operation) ?? 0) + 1);
  },
  end() {},
  asyncStart() {},
  asyncEnd() {},
  error() {},
});

async function measure(count, replication, size) {
  const payload = 'x'.repeat(size);
  const ids = 'abcdefgh'.slice(0, count).split('');
  const ports = [];
  for (const _ of ids) ports.push(await freePort());
  ports.forEach((port) => peerPorts.add(port));
  const peers = ids.map((id, i) => `${id}:127.0.0.1:${ports[i]}`).join(',');
  const apps = ids.map((self) =>
    session({ secret: 'bench', resave: false, saveUninitialized: false, peers, self, replication, sessionBackupAsync: false, logger: { info() {}, warn() {}, error() {} } }),
  );
  for (let i = 0; i < 200 && !apps.every((app) => Object.values(app.nodes()).every(Boolean)); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 600)); // every node's first health check has answered
  const server = http.createServer((req, res) =>
    apps[0](req, res, () => {
      if (req.url === '/create') req.session.payload = payload;
      else req.session.n = (req.session.n ?? 0) + 1;
      res.end('ok');
    }),
  );
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const cookies = [];
  for (let i = 0; i < SESSIONS; i++) {
    const response = await fetch(`${url}/create`);
    cookies.push(response.headers.getSetCookie()[0].split(';')[0]);
  }
  await new Promise((r) => setTimeout(r, 300));
  messages.clear();
  bytes = 0;
  for (const cookie of cookies) await fetch(`${url}/change`, { headers: { cookie } });
  const perChange = (n) => (n / SESSIONS).toFixed(2);
  const byOperation = ['set', 'patchCopy', 'get'].map((op) => perChange(messages.get(op) ?? 0)).join(' | ');
  const total = [...messages.values()].reduce((a, b) => a + b, 0);
  const row = `| ${replication} | ${count} | ${size} | ${perChange(total)} | ${byOperation} | ${Math.round(bytes / SESSIONS)} |`;
  await new Promise((r) => server.close(r));
  await Promise.all(apps.map((app) => app.close()));
  ports.forEach((port) => peerPorts.delete(port));
  return row;
}

const rows = [];
for (const size of PAYLOADS) {
  for (const replication of ['backup', 'all']) {
    for (const count of NODES) rows.push(await measure(count, replication, size));
  }
}
console.log(`Peer traffic per session change (${SESSIONS} sessions, each changed once, sessionBackupAsync false)\n`);
console.log('| replication | app nodes | session bytes | peer messages per change | copies written whole (set) | deltas (patchCopy) | revocation checks (get) | bytes per change, both ways (health checks included) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
