/**
 * The nginx configurations (demo, docker, README guide) come from one generator; here they run
 * in real nginx: `nginx -t`, then requests through it to stand-in app nodes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { nginxConfig } from '../../src/demo/nginx-config.js';
import { dockerNginxConfig } from '../../src/demo/docker-config.js';
import { runNginx as startNginx, standalone } from '../helpers/nginx.js';
import { routeCookie as cookieFor, standInApps } from '../helpers/stand-in-apps.js';
import { missingPackage } from '../helpers/system-programs.js';

const noNginx = missingPackage('nginx');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function standApps(count: number) {
  const apps = await standInApps(count);
  for (const app of apps) cleanups.push(app.close);
  return apps;
}

const runNginx = (config: (listen: string, prefix: string) => string) => startNginx(config, cleanups);
const get = async (url: string, cookie?: string) => (await fetch(url, { headers: cookie ? { cookie } : {} })).text();

describe.skipIf(noNginx)('nginx, sticky by the route in the session cookie', () => {
  it('sends each user to the node named in the cookie, and fails over when it is down', async () => {
    const apps = await standApps(3);
    const url = await runNginx((listen, prefix) => nginxConfig({ apps, sticky: 'route', listen, standalone: standalone(prefix) }));
    for (const app of apps) {
      for (let i = 0; i < 5; i++) expect(await get(url, cookieFor(app.route))).toBe(app.route);
    }
    // Among other cookies, and with a signature containing URL-encoded characters.
    expect(await get(url, `theme=dark; ${cookieFor('app3')}; lang=en`)).toBe('app3');
    // No cookie: any node.
    expect(['app1', 'app2', 'app3']).toContain(await get(url));
    // app2 goes down: its users land on a live node.
    await apps[1].close();
    for (let i = 0; i < 5; i++) expect(['app1', 'app3']).toContain(await get(url, cookieFor('app2')));
  });
});

describe.skipIf(noNginx)('nginx, ip_hash', () => {
  it('keeps one client on one node', async () => {
    const apps = await standApps(3);
    const url = await runNginx((listen, prefix) => nginxConfig({ apps, sticky: 'ip_hash', listen, standalone: standalone(prefix) }));
    const first = await get(url);
    for (let i = 0; i < 5; i++) expect(await get(url)).toBe(first);
  });
});

describe('docker/nginx.conf', () => {
  it('is the generator output for the compose topology', () => {
    const file = readFileSync(new URL('../../docker/nginx.conf', import.meta.url), 'utf8');
    expect(file).toBe(dockerNginxConfig());
  });

  it.skipIf(noNginx)('passes nginx -t once the compose host names resolve (here to loopback)', async () => {
    const apps = await standApps(3);
    const url = await runNginx((listen, prefix) =>
      dockerNginxConfig()
        .replace(/app(\d):3000/g, (_, n: string) => apps[Number(n) - 1].address)
        .replace('listen 80;', `listen ${listen};`)
        .replace('events {', `pid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log;\n${process.getuid?.() === 0 ? 'user root;\n' : ''}events {`)
        .replace('http {', `http {\n  client_body_temp_path ${prefix}/client_body_temp;\n  proxy_temp_path ${prefix}/proxy_temp;\n  fastcgi_temp_path ${prefix}/fastcgi_temp;\n  uwsgi_temp_path ${prefix}/uwsgi_temp;\n  scgi_temp_path ${prefix}/scgi_temp;\n  access_log off;`),
    );
    expect(await get(url, cookieFor('app2'))).toBe('app2');
  });
});
