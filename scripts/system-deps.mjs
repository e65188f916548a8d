// Installs missing system packages (by default those the test suite runs against: memcached,
// nginx, HAProxy, Apache httpd, Chromium, SASL tools): with apt-get when running as root on Debian, otherwise it says what is
// missing. Set MSM_NO_INSTALL=1 to skip. Used by `npm test` (and therefore CI) and `npm run bench`.
// `node scripts/system-deps.mjs --containers` (CI) also installs what tests on containers need:
// a Docker engine, a static busybox for the FROM-scratch images, and docker-compose.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const succeeds = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
export const onPath = (command) => succeeds('sh', ['-c', `command -v ${command}`]);
const debianPackage = (name) => succeeds('sh', ['-c', `dpkg-query -W -f='\${Status}' ${name} | grep -q 'ok installed'`]);

/** Debian package name → whether what the tests use from it is here. */
const TEST_PACKAGES = {
  memcached: () => onPath('memcached'),
  nginx: () => onPath('nginx'),
  haproxy: () => onPath('haproxy'),
  apache2: () => onPath('apache2'),
  chromium: () => existsSync('/usr/bin/chromium'),
  // memcached -S: saslpasswd2 makes the sasldb, libsasl2-modules has the PLAIN mechanism.
  'sasl2-bin': () => onPath('saslpasswd2'),
  'libsasl2-modules': () => debianPackage('libsasl2-modules'),
};
const CONTAINER_PACKAGES = {
  'docker.io': () => onPath('dockerd'),
  'busybox-static': () => debianPackage('busybox-static'),
  'docker-compose': () => onPath('docker-compose') || succeeds('docker', ['compose', 'version']),
};

/**
 * @param {{ containers?: boolean, packages?: Record<string, () => boolean>, usedBy?: string }} [options]
 *   `packages`: Debian package name → whether it is present (default: the test suite's).
 */
export function ensureSystemPackages({ containers = false, packages = TEST_PACKAGES, usedBy = 'the tests' } = {}) {
  const missingOf = (group) => Object.keys(group).filter((name) => !group[name]());
  const tests = missingOf(packages);
  // The engine as verified here: its recommends (apparmor among them) are not wanted in a container.
  const engine = containers ? missingOf(CONTAINER_PACKAGES) : [];
  const missing = [...tests, ...engine];
  if (missing.length === 0 || process.env.MSM_NO_INSTALL) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    console.warn(`missing system packages: ${missing.join(', ')} (install them, e.g. apt-get install ${missing.join(' ')}); ${usedBy} that need them will fail`);
    return;
  }
  console.log(`installing system packages ${usedBy} use: ${missing.join(', ')} (apt-get)`);
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
