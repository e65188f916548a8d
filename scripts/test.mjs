// Runs the whole suite with vitest and ends with one plain summary line ("N passed, N failed, N skipped"),
// so any CI can read the result, after naming the system packages whose tests were skipped (`npm test`
// installs them first, see system-deps.mjs, unless MSM_NO_INSTALL=1). Exits non-zero if any run failed.
// The chaos files run last and alone: each drives 3 app processes, 3 memcached nodes and a load
// generator, and on 2 cores a test file running beside them would starve them into timeouts.
// With file arguments, only those run (in one vitest run).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { missingTestPackages, TEST_PACKAGES } from './system-deps.mjs';

mkdirSync('test-artifacts', { recursive: true });
const CHAOS = ['test/integration/chaos.test.ts', 'test/integration/chaos-locking.test.ts'];
const args = process.argv.slice(2);
const runs = args.length > 0 ? [{ name: 'vitest', args }] : [
  { name: 'vitest', args: CHAOS.map((file) => `--exclude=${file}`) },
  { name: 'vitest-chaos', args: ['--maxWorkers=1', ...CHAOS] },
  // The same chaos suites over Redis (test/helpers/backend.ts).
  ...(TEST_PACKAGES['redis-server'].present() ? [{ name: 'vitest-chaos-redis', args: ['--maxWorkers=1', ...CHAOS], env: { MSM_TEST_BACKEND: 'redis' } }] : []),
];

const totals = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const run of runs) {
  const report = `test-artifacts/${run.name}.json`;
  const result = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...run.args],
    { stdio: 'inherit', env: { ...process.env, ...run.env } },
  );
  status ||= result.status ?? 1;
  try {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += json.numPassedTests;
    totals.failed += json.numFailedTests;
    totals.skipped += json.numPendingTests + json.numTodoTests;
  } catch {
    console.log(`${run.name}: no test report was written`);
    status ||= 1;
  }
}
// Without memcached the tests run on the embedded server (they say so); the others' tests are skipped.
const missing = missingTestPackages().filter((name) => name !== 'memcached');
if (missing.length > 0) console.log(`skipped the tests that need ${missing.join(', ')}: not installed (apt-get install ${missing.join(' ')})`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status);
