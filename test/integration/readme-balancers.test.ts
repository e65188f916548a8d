/**
 * The user documents' HAProxy and Apache configurations, taken from the documents themselves (the
 * README's `haproxy` block, docs/load-balancers.md's `apache` block, with the example addresses
 * replaced by stand-in app nodes), run in real HAProxy and Apache httpd: each user stays on one
 * node, and moves when that node is down.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/memcached.js';
import { waitForListener } from '../helpers/http.js';
import { routeCookie, standInApps, type StandInApp } from '../helpers/stand-in-apps.js';
import { codeBlocks, readDocument } from '../helpers/readme.js';
import { missingPackage } from '../helpers/system-programs.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** `document`'s code block in `language`, with its two example app addresses replaced by `apps`'. */
function readmeConfig(language: string, apps: StandInApp[], document = 'README.md'): string {
  const blocks = codeBlocks(readDocument(document), language);
  expect(blocks, `one ${language} block in ${document}`).toHaveLength(1);
  const block = blocks[0];
  for (const example of ['10.0.0.11:3000', '10.0.0.12:3000']) expect(block).toContain(example);
  return block.replace('10.0.0.11:3000', apps[0].address).replace('10.0.0.12:3000', apps[1].address);
}

/** Two stand-in apps, a scratch directory holding the balancer's config `fileName`, and the balancer's address. */
async function setUp(fileName: string) {
  const apps = await standInApps(2);
  for (const app of apps) cleanups.push(app.close);
  const dir = scratchDir();
  const port = await freePort();
  return { apps, dir, port, file: path.join(dir, fileName), url: `http://127.0.0.1:${port}/` };
}

/**
 * Writes `config` to `file`, has `command` check it (`checkArgs`), then runs it in the foreground
 * (`runArgs`) until the test ends, stopped by its PID. Resolves once `url` answers.
 */
async function runBalancer(command: string, file: string, config: string, checkArgs: string[], runArgs: string[], url: string): Promise<void> {
  writeFileSync(file, config);
  const check = spawnSync(command, [...checkArgs, file], { encoding: 'utf8' });
  expect(check.status, check.stdout + check.stderr).toBe(0);
  const child: ChildProcess = spawn(command, runArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await waitForListener(url).catch((err: Error) => {
    throw new Error(`${err.message}; ${command} said: ${stderr}`);
  });
}

function scratchDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'msm-balancer-test-'));
  // Apache's workers run as www-data when started as root and open files here.
  chmodSync(dir, 0o755);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const get = async (url: string, cookie?: string) => {
  const response = await fetch(url, { headers: cookie ? { cookie } : {} });
  return { body: await response.text(), setCookie: response.headers.getSetCookie() };
};

describe.skipIf(missingPackage('haproxy'))('README HAProxy configuration', () => {
  it('routes by the route in the session cookie and redispatches when that node is down', async () => {
    const { apps, port, file, url } = await setUp('haproxy.cfg');
    const wrapper = ['defaults', '  mode http', '  timeout connect 1s', '  timeout client 10s', '  timeout server 10s', 'frontend web', `  bind 127.0.0.1:${port}`, '  default_backend apps'];
    await runBalancer('haproxy', file, `${wrapper.join('\n')}\n${readmeConfig('haproxy', apps)}`, ['-c', '-f'], ['-db', '-f', file], url);

    for (const app of apps) {
      for (let i = 0; i < 4; i++) expect((await get(url, routeCookie(app.route))).body).toBe(app.route);
    }
    // Among other cookies; without a route (no `route` option) or without a cookie: round robin.
    expect((await get(url, `theme=dark; ${routeCookie('app2')}; lang=en`)).body).toBe('app2');
    const unrouted = `connect.sid=${encodeURIComponent('s:abcdefghijklmnopqrstuvwxyz012345.c2lnbmF0dXJl')}`;
    const spread = new Set<string>();
    for (let i = 0; i < 4; i++) spread.add((await get(url, unrouted)).body).add((await get(url)).body);
    expect([...spread].sort()).toEqual(['app1', 'app2']);

    // app2 goes down: its users land on app1 at once (a refused connection is redispatched).
    await apps[1].close();
    for (let i = 0; i < 4; i++) expect((await get(url, routeCookie('app2'))).body).toBe('app1');
  });
});

describe.skipIf(missingPackage('apache2'))('docs/load-balancers.md Apache configuration', () => {
  it('keeps a client on the member its ROUTEID cookie names and moves it when that member is down', async () => {
    const { apps, dir, port, file, url } = await setUp('httpd.conf');
    const modules = ['mpm_event', 'authz_core', 'headers', 'proxy', 'proxy_http', 'proxy_balancer', 'slotmem_shm', 'lbmethod_byrequests'];
    const wrapper = [
      `ServerRoot ${dir}`,
      `DefaultRuntimeDir ${dir}`,
      `PidFile ${dir}/httpd.pid`,
      `ErrorLog ${dir}/error.log`,
      `Listen 127.0.0.1:${port}`,
      'ServerName localhost',
      ...modules.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
      // Ignored unless started as root, when the workers must not run as root.
      'User www-data',
      'Group www-data',
    ];
    await runBalancer('apache2', file, `${wrapper.join('\n')}\n${readmeConfig('apache', apps, 'docs/load-balancers.md')}`, ['-t', '-f'], ['-f', file, '-DFOREGROUND'], url);

    // A first request is balanced and told its member; the cookie keeps it there.
    const first = await get(url);
    const routeId = first.setCookie.find((c) => c.startsWith('ROUTEID='))?.split(';')[0];
    expect(routeId).toBe(`ROUTEID=.${first.body}`);
    for (let i = 0; i < 4; i++) expect((await get(url, `${routeId!}; ${routeCookie('app1')}`)).body).toBe(first.body);
    for (const app of apps) {
      for (let i = 0; i < 3; i++) expect((await get(url, `ROUTEID=.${app.route}`)).body).toBe(app.route);
    }

    // app2 goes down: its clients land on app1 and are told so.
    await apps[1].close();
    for (let i = 0; i < 3; i++) {
      const moved = await get(url, 'ROUTEID=.app2');
      expect(moved.body).toBe('app1');
      expect(moved.setCookie.some((c) => c.startsWith('ROUTEID=.app1'))).toBe(true);
    }
  });
});
