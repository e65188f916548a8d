// The load generator, in its own process: autocannon against one server, each request with a
// random one of the pre-created session cookies, reading or writing by the given ratio.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';

const [url, cookiesFile, writeRatio, seconds, connections] = process.argv.slice(2);
const cookies = JSON.parse(readFileSync(cookiesFile, 'utf8'));
const ratio = Number(writeRatio);
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      setupRequest(req) {
        req.path = Math.random() < ratio ? '/write' : '/read';
        req.headers = { cookie: cookies[Math.floor(Math.random() * cookies.length)] };
        return req;
      },
    },
  ],
});
process.stdout.write(
  JSON.stringify({ requests: result.requests.total, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx }) + '\n',
);
