/**
 * Tests that run a system program (nginx, HAProxy, Apache httpd, Chromium) are skipped, with one
 * message naming the Debian package, when it is not installed: `npm test` installs them unless
 * MSM_NO_INSTALL=1 (scripts/system-deps.mjs), and CI installs them all, so there nothing is skipped.
 */
import { TEST_PACKAGES } from '../../scripts/system-deps.mjs';

type SkippablePackage = Exclude<keyof typeof TEST_PACKAGES, 'memcached'>;
const reported = new Set<string>();

/** Whether the Debian package `name` is missing; if so, says once in this test file what is skipped and how to run it. */
export function missingPackage(name: SkippablePackage): boolean {
  const { present, usedFor } = TEST_PACKAGES[name];
  if (present()) return false;
  if (!reported.has(name)) {
    reported.add(name);
    console.warn(`SKIPPED ${usedFor}: ${name} is not installed (apt-get install ${name}, or npm test as root without MSM_NO_INSTALL)`);
  }
  return true;
}
