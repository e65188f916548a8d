// Proves docker/ works: brings up docker-compose.yml (nginx, 3 app nodes, 3 memcached), signs a
// user in through nginx, SIGKILLs the app container that served them, and checks the next request
// (on another app node) still has their session. Always takes the stack down again.
//   node docker/up-check.mjs             images from the registry (node:26-slim, nginx, memcached)
//   node docker/up-check.mjs --offline   local images (docker/local-images.sh), as CI does
//   node docker/up-check.mjs --redis     the Redis variant (docker-compose.redis.yml); with --offline too
// Uses `docker compose` or, when that plugin is missing, `docker-compose`.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const offline = process.argv.includes('--offline');
const redis = process.argv.includes('--redis');
const files = ['-f', 'docker/docker-compose.yml'];
if (redis) files.push('-f', 'docker/docker-compose.redis.yml');
if (offline) files.push('-f', 'docker/docker-compose.offline.yml');
// Its own project name, so the two variants can be checked at the same time.
const project = ['-p', redis ? 'msm-up-check-redis' : 'msm-up-check'];

const run = (command, args, options = {}) => spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
const compose = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0 ? ['docker', 'compose'] : ['docker-compose'];

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
const port = await freePort();
const env = { ...process.env, HTTP_PORT: String(port), ...(redis && offline ? { MSM_REDIS_IMAGE: 'msm-redis:local' } : {}) };

function composeRun(...args) {
  const result = run(compose[0], [...compose.slice(1), ...project, ...files, ...args], { env });
  if (result.error) throw new Error(`${compose.join(' ')} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${compose.join(' ')} ${args.join(' ')} failed (exit ${result.status})`);
}

const base = `http://127.0.0.1:${port}`;
let cookie = '';
async function call(method, path, body) {
  // A ref'd timer (AbortSignal.timeout's is not): it keeps the process alive while the request waits.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('no answer within 5 s')), 5000);
  const response = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: body && JSON.stringify(body),
    signal: abort.signal,
  }).finally(() => clearTimeout(timer));
  for (const line of response.headers.getSetCookie()) cookie = line.split(';')[0];
  if (response.status !== 200) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

async function untilAnswering(deadlineMs) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await call('GET', '/api/state');
    } catch (err) {
      if (Date.now() > until) throw new Error(`nginx on ${base} did not serve the app within ${deadlineMs / 1000} s: ${err.message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

let failed = false;
try {
  composeRun('up', '-d', '--build');
  await untilAnswering(90_000);
  await call('POST', '/api/login', { name: 'up-check' });
  const before = await call('POST', '/api/cart', { item: 'book' });
  const owner = before.servedBy;
  console.log(`signed in on ${owner} through nginx; killing ${owner}`);
  composeRun('kill', '-s', 'SIGKILL', owner);
  const after = await call('GET', '/api/state');
  const { user, cart } = after.session;
  if (after.servedBy === owner || user !== 'up-check' || cart.join() !== 'book') {
    throw new Error(`the session did not survive ${owner} dying: ${JSON.stringify({ servedBy: after.servedBy, user, cart })}`);
  }
  console.log(`docker/ up-check${redis ? ' (Redis)' : ''} passed: after ${owner} died, ${after.servedBy} served the same user and cart`);
} catch (err) {
  failed = true;
  console.error(`docker/ up-check${redis ? ' (Redis)' : ''} FAILED: ${err.message}`);
  run(compose[0], [...compose.slice(1), ...project, ...files, 'logs', '--tail', '30'], { env });
} finally {
  const down = run(compose[0], [...compose.slice(1), ...project, ...files, 'down', '-v', '--remove-orphans'], { env, stdio: 'pipe' });
  if (down.status !== 0) console.error(`could not take the stack down: ${down.stderr}`);
}
process.exit(failed ? 1 : 0);
