import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * Loads `name`, an optional peer dependency, on first use: applications that do not use the
 * feature do not install it. Resolved from this package under CommonJS; an ES module cannot name
 * its own location in code that also compiles to CommonJS, so there it is resolved from the
 * application (its main script, then the working directory), where npm installs peers.
 * A missing package fails with an Error saying which feature needs it and how to install it.
 */
export function loadOptionalPeer<T>(name: string, neededBy: string): T {
  const loaders =
    typeof require === 'function'
      ? [require]
      : [process.argv[1], join(process.cwd(), 'index.js')].filter((base): base is string => !!base).map((base) => createRequire(base));
  let missing: unknown;
  for (const load of loaders) {
    try {
      return load(name) as T;
    } catch (err) {
      if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
      missing = err;
    }
  }
  throw new Error(`memcached-session-manager: ${neededBy} needs the ${name} package: npm install ${name}`, { cause: missing });
}
