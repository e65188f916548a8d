// Installs missing system packages (see system-deps.mjs), runs the whole suite with vitest, and ends with one plain summary line ("N passed, N failed, N skipped"),
// so any CI can read the result. Exits with vitest's exit code.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { ensureSystemPackages } from './system-deps.mjs';

ensureSystemPackages();

mkdirSync('test-artifacts', { recursive: true });
const report = 'test-artifacts/vitest.json';
const result = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
let summary = 'no test report was written';
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = json.numPendingTests + json.numTodoTests;
  summary = `${json.numPassedTests} passed, ${json.numFailedTests} failed, ${skipped} skipped`;
} catch {
  // keep the message above
}
console.log(summary);
process.exit(result.status ?? 1);
