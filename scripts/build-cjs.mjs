// Finishes the CommonJS build: `require('memcached-session-manager')` returns the factory itself,
// as `require('express-session')` does, with the named exports attached to it; its types are
// the factory's namespace (session.Store, session.SessionOptions, …), as @types/express-session.
import { writeFileSync } from 'node:fs';

const dir = new URL('../dist/cjs/', import.meta.url);
writeFileSync(new URL('package.json', dir), JSON.stringify({ type: 'commonjs' }) + '\n');
writeFileSync(
  new URL('index.cjs', dir),
  `'use strict';
const exported = require('./index.js');
module.exports = Object.assign(exported.default, exported);
`,
);
writeFileSync(
  new URL('index.d.cts', dir),
  `import exported = require('./index.js');
import session = exported.session;
export = session;
`,
);
