// Installs missing system packages (by default those the test suite runs against: memcached,
// nginx, Chromium): with apt-get when running as root on Debian, otherwise it says what is
// missing. Set MSM_NO_INSTALL=1 to skip. Used by `npm test` (and therefore CI) and `npm run bench`.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** Debian packages the test suite needs, each with how to tell it is installed. */
const TEST_PACKAGES = [
  { name: 'memcached', present: () => onPath('memcached') },
  { name: 'nginx', present: () => onPath('nginx') },
  { name: 'chromium', present: () => existsSync('/usr/bin/chromium') },
];

export function ensureSystemPackages(packages = TEST_PACKAGES, usedBy = 'the tests') {
  const missing = packages.filter((p) => !p.present()).map((p) => p.name);
  if (missing.length === 0 || process.env.MSM_NO_INSTALL) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    console.warn(`missing system packages: ${missing.join(', ')} (install them, e.g. apt-get install ${missing.join(' ')}); ${usedBy} that need them will fail`);
    return;
  }
  console.log(`installing system packages ${usedBy} use: ${missing.join(', ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}
