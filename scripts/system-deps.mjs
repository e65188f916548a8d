// Installs the system packages the test suite runs against (memcached, nginx, Chromium) when
// they are missing: with apt-get when running as root on Debian, otherwise it says what is
// missing. Set MSM_NO_INSTALL=1 to skip. Used by `npm test` and therefore by CI.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

export function ensureSystemPackages() {
  const missing = [];
  if (!onPath('memcached')) missing.push('memcached');
  if (!onPath('nginx')) missing.push('nginx');
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
  if (missing.length === 0 || process.env.MSM_NO_INSTALL) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    console.warn(`missing system packages: ${missing.join(', ')} (install them, e.g. apt-get install ${missing.join(' ')}); the tests that need them will fail`);
    return;
  }
  console.log(`installing system packages the tests use: ${missing.join(', ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}
