/**
 * The demo page in a real browser (Debian's Chromium through playwright-core): sign in, fill a
 * cart, kill the app node that served the page, then a memcached node holding the session's
 * copy; the user stays signed in with the same cart. "Log out other devices" signs a second
 * browser out. Then, at phone, narrow-desktop and desktop widths, nothing covers the Kill and
 * Restart buttons. Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { DemoCluster } from '../../dist/esm/demo/supervisor.js';
import { freePort } from '../helpers/memcached.js';
import { missingPackage } from '../helpers/system-programs.js';

const CHROMIUM = '/usr/bin/chromium';
const noChromium = missingPackage('chromium');
let cluster: DemoCluster;
let browser: Browser;

beforeAll(async () => {
  if (noChromium) return;
  mkdirSync('test-artifacts', { recursive: true });
  cluster = new DemoCluster({
    mode: 'sticky',
    lb: 'auto',
    nginxSticky: 'route',
    apps: 3,
    memcached: 3,
    memcachedProvider: 'auto',
    port: await freePort(),
    host: '127.0.0.1',
    log: () => undefined,
  });
  await cluster.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
});

it.skipIf(noChromium)('"Log out other devices" lists both browsers signed in as one user and signs the other one out', async () => {
  // Two browser contexts: two devices with their own cookies.
  const contexts = [await browser.newContext(), await browser.newContext()];
  const [phone, laptop] = await Promise.all(contexts.map((context) => context.newPage()));
  /** Loads the page and waits until it has rendered a state from the app nodes. */
  const open = async (page: typeof phone) => {
    await page.goto(cluster.url);
    await page.waitForFunction(() => document.querySelector('#mode')!.textContent !== 'mode');
  };
  for (const page of [phone, laptop]) {
    await open(page);
    await page.fill('#name', 'Grace');
    await page.click('#login');
    await page.waitForSelector('#signed-in:not([hidden])');
  }
  await phone.reload();
  await phone.waitForFunction(() => document.querySelector('#device-count')!.textContent === '2', undefined, { timeout: 10_000 });
  expect(await phone.$$eval('#devices li', (items) => items.length)).toBe(2);
  await phone.screenshot({ path: 'test-artifacts/demo-0-two-devices.png', fullPage: true });

  await phone.click('#logout-others');
  await phone.waitForFunction(() => document.querySelector('#device-count')!.textContent === '1', undefined, { timeout: 10_000 });
  expect(await phone.textContent('#log')).toContain('logged out 1 other device(s)');
  await open(laptop);
  expect(await laptop.isHidden('#signed-in')).toBe(true);
  await open(phone);
  await phone.waitForSelector('#signed-in:not([hidden])');
  expect(await phone.textContent('#user')).toBe('Grace');
  await Promise.all(contexts.map((context) => context.close()));
}, 60_000);

it.skipIf(noChromium)('keeps the user signed in with the same cart while app and memcached nodes die', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const failed: string[] = [];
  page.on('response', (response) => void (response.status() >= 400 && failed.push(`${response.status()} ${response.url()}`)));
  await page.goto(cluster.url);
  await page.fill('#name', 'Ada');
  await page.click('#login');
  await page.waitForSelector('#signed-in:not([hidden])');
  for (const [n, item] of ['Storm jacket', 'Trail boots', 'Day pack'].entries()) {
    await page.click(`button.add[data-item="${item}"]`);
    await page.waitForFunction((count) => document.querySelectorAll('#cart li').length === count, n + 1);
  }
  await page.waitForSelector('.node.current');
  await page.screenshot({ path: 'test-artifacts/demo-1-signed-in.png', fullPage: true });
  const cart = async () => page.$$eval('#cart li', (items) => items.map((li) => li.textContent));
  const servedBy = async () => (await page.textContent('#served-by'))!;
  expect(await cart()).toEqual(['Storm jacket', 'Trail boots', 'Day pack']);
  // Nothing the page asked for was missing (its icon included), and clients asking for /favicon.ico get no error.
  expect(failed).toEqual([]);
  expect((await fetch(new URL('/favicon.ico', cluster.url))).status).toBe(204);
  const first = await servedBy();

  // Kill the app node that served the page (the button on its card), then reload.
  await page.click(`.node[data-app="${first}"] button[data-kill-app]`);
  await page.waitForSelector(`.node[data-app="${first}"] button[data-restart-app]`);
  await page.reload();
  await page.waitForSelector('#signed-in:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#cart li').length === 3);
  expect(await page.textContent('#user')).toBe('Ada');
  // The event log survives the reload: it still lists the sign-in and the kill.
  const logText = (await page.textContent('#log'))!;
  expect(logText).toContain('signed in as Ada');
  expect(logText).toContain(`killed app ${first} (SIGKILL)`);
  expect(await cart()).toEqual(['Storm jacket', 'Trail boots', 'Day pack']);
  const second = await servedBy();
  expect(second).not.toBe(first);
  await page.screenshot({ path: 'test-artifacts/demo-2-after-app-kill.png', fullPage: true });

  // Kill the memcached node that holds the session's copy.
  await page.waitForSelector('.node[data-memcached] .badge');
  const holder = await page.$eval('.node[data-memcached]:has(.badge)', (el) => (el as HTMLElement).dataset.memcached!);
  await page.click(`.node[data-memcached="${holder}"] button[data-kill-memcached]`);
  await page.waitForSelector(`.node[data-memcached="${holder}"] button[data-restart-memcached]`);
  await page.reload();
  await page.waitForSelector('#signed-in:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#cart li').length === 3);
  expect(await page.textContent('#user')).toBe('Ada');
  expect(await cart()).toEqual(['Storm jacket', 'Trail boots', 'Day pack']);
  // The session's copy moves to a live node.
  await page.waitForFunction((dead) => {
    const badge = document.querySelector('.node[data-memcached]:has(.badge)') as HTMLElement | null;
    return badge && badge.dataset.memcached !== dead;
  }, holder, { timeout: 10_000 });
  await page.screenshot({ path: 'test-artifacts/demo-3-after-memcached-kill.png', fullPage: true });
}, 60_000);

it('nothing covers a Kill or Restart button at 375, 1000 and 1280 px', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(cluster.url);
  await page.fill('#name', 'Grace');
  await page.click('#login');
  await page.waitForSelector('#signed-in:not([hidden])');
  await page.click('button.add[data-item="Day pack"]');
  await page.waitForSelector('#cart li');
  // Both badges shown: the app node serving the page and the memcached node holding its copy.
  await page.waitForSelector('.node.current .badge');
  await page.waitForSelector('.node[data-memcached] .badge');
  // Whatever the test above left, some nodes are down too, so there are Restart buttons to check.
  const served = (await page.textContent('#served-by'))!;
  const idle = cluster.apps.findIndex((a) => a.name !== served && a.child?.alive());
  if (idle >= 0) await page.evaluate((i) => fetch(`/_demo/apps/${i}/kill`, { method: 'POST' }), idle);
  await page.waitForSelector('button[data-restart-app]');

  const covered: string[] = [];
  for (const width of [375, 1000, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.evaluate(() => new Promise(requestAnimationFrame));
    const hidden = await page.$$eval('button[data-kill-app], button[data-restart-app], button[data-kill-memcached], button[data-restart-memcached]', (buttons) =>
      buttons.flatMap((button) => {
        button.scrollIntoView({ block: 'center' });
        const box = button.getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        if (hit && button.contains(hit)) return [];
        const card = (button.closest('.node') as HTMLElement).dataset;
        return [`${button.textContent} on ${card.app ?? card.memcached} is covered by ${hit ? `<${hit.tagName.toLowerCase()} class="${hit.className}">${hit.textContent}` : 'nothing'}`];
      }),
    );
    await page.screenshot({ path: `test-artifacts/demo-layout-${width}.png`, fullPage: true });
    covered.push(...hidden.map((what) => `at ${width} px: ${what}`));
  }
  expect(covered).toEqual([]);
}, 60_000);
