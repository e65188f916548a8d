// Installs missing system packages (by default those the test suite runs against: memcached,
// nginx, HAProxy, Apache httpd, Chromium, SASL tools): with apt-get when running as root on Debian, after
// saying what it installs and why; otherwise it says what is missing. MSM_NO_INSTALL=1 never
// installs. `npm test` runs this first; the tests that need a missing program are then skipped
// (see test/helpers/system-programs.ts). `npm run bench` uses it for its own packages.
// `node scripts/system-deps.mjs --containers` (CI) also installs what tests on containers need:
// a Docker engine, a static busybox for the FROM-scratch images, and docker-compose.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const succeeds = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
export const onPath = (command) => succeeds('sh', ['-c', `command -v ${command}`]);
const debianPackage = (name) => succeeds('sh', ['-c', `dpkg-query -W -f='\${Status}' ${name} | grep -q 'ok installed'`]);

/** Debian package name → whether what the tests use from it is here, and which tests use it. */
export const TEST_PACKAGES = {
  memcached: {
    present: () => onPath('memcached'),
    usedFor: 'real memcached nodes for the integration tests (without it they run on the embedded memcached-compatible server)',
  },
  'redis-server': { present: () => onPath('redis-server'), usedFor: 'the Redis backend tests (redisNodes) and the chaos suites over Redis' },
  nginx: { present: () => onPath('nginx'), usedFor: "the nginx configuration tests and the demo's nginx balancer" },
  haproxy: { present: () => onPath('haproxy'), usedFor: "the README's HAProxy configuration test" },
  apache2: { present: () => onPath('apache2'), usedFor: "the README's Apache httpd configuration test" },
  chromium: { present: () => existsSync('/usr/bin/chromium'), usedFor: 'the demo page test in a real browser' },
  // memcached -S: saslpasswd2 makes the sasldb, libsasl2-modules has the PLAIN mechanism.
  'sasl2-bin': { present: () => onPath('saslpasswd2'), usedFor: 'the memcached SASL tests (memcached -S)' },
  'libsasl2-modules': { present: () => debianPackage('libsasl2-modules'), usedFor: 'the memcached SASL tests (the PLAIN mechanism)' },
};
const CONTAINER_PACKAGES = {
  'docker.io': () => onPath('dockerd'),
  'busybox-static': () => debianPackage('busybox-static'),
  'docker-compose': () => onPath('docker-compose') || succeeds('docker', ['compose', 'version']),
};

/** Whether MSM_NO_INSTALL asks never to install (any value but empty or `0`). */
export const installDisabled = () => !['', '0', undefined].includes(process.env.MSM_NO_INSTALL);

const isPresent = (check) => (typeof check === 'function' ? check() : check.present());
const missingOf = (group) => Object.keys(group).filter((name) => !isPresent(group[name]));

/** The test suite's packages that are not installed. */
export const missingTestPackages = () => missingOf(TEST_PACKAGES);

/**
 * @param {{ containers?: boolean, packages?: Record<string, (() => boolean) | { present: () => boolean, usedFor: string }>, usedBy?: string }} [options]
 *   `packages`: Debian package name → whether it is present (default: the test suite's, with what uses each).
 */
export function ensureSystemPackages({ containers = false, packages = TEST_PACKAGES, usedBy = 'the tests' } = {}) {
  const tests = missingOf(packages);
  // The engine as verified here: its recommends (apparmor among them) are not wanted in a container.
  const engine = containers ? missingOf(CONTAINER_PACKAGES) : [];
  const missing = [...tests, ...engine];
  if (missing.length === 0) return;
  const uses = tests.filter((name) => packages[name].usedFor).map((name) => `  ${name}: ${packages[name].usedFor}\n`).join('');
  const ifAbsent = packages === TEST_PACKAGES ? 'the tests that need them are skipped' : `${usedBy} may fail without them`;
  const root = process.getuid?.() === 0 && onPath('apt-get');
  if (installDisabled() || !root) {
    const why = installDisabled() ? 'MSM_NO_INSTALL is set' : 'installing needs root and apt-get';
    console.warn(`missing system packages: ${missing.join(', ')} (${why}; install with: apt-get install ${missing.join(' ')})\n${uses}  ${ifAbsent}.`);
    return;
  }
  console.log(
    `installing system packages ${usedBy} use, with apt-get (running as root): ${missing.join(', ')}\n${uses}` +
      '  no service is started; to run without installing anything: MSM_NO_INSTALL=1' +
      (packages === TEST_PACKAGES ? ' npm test (then the tests that need them are skipped)' : ''),
  );
  if (process.stdout.isTTY) {
    console.log('  starting in 5 s (Ctrl-C to stop)');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [['update', '-qq']];
  if (tests.length > 0) steps.push(['install', '-y', '-qq', ...tests]);
  if (engine.length > 0) steps.push(['install', '-y', '-qq', '--no-install-recommends', ...engine]);
  // The tests run these programs on their own ports, not as services. A service started by the
  // install could fail it (nginx and Apache both want port 80), so none is started: the same
  // policy container images ship, in place only while apt-get runs unless the machine has one.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    for (const args of steps) {
      const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
      if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureSystemPackages({ containers: process.argv.includes('--containers') });
}
