// Types of system-deps.mjs, for the test helpers that import it.
export declare const onPath: (command: string) => boolean;
export declare const TEST_PACKAGES: Record<'memcached' | 'redis-server' | 'nginx' | 'haproxy' | 'apache2' | 'chromium', { present: () => boolean; usedFor: string }>;
export declare const installDisabled: () => boolean;
export declare const missingTestPackages: () => string[];
export declare function ensureSystemPackages(options?: {
  containers?: boolean;
  packages?: Record<string, (() => boolean) | { present: () => boolean; usedFor: string }>;
  usedBy?: string;
}): void;
