// Writes docker/nginx.conf from the same generator the demo uses (run: npm run docker:config).
import { writeFileSync } from 'node:fs';
import { dockerNginxConfig } from '../dist/esm/demo/docker-config.js';

writeFileSync(new URL('../docker/nginx.conf', import.meta.url), dockerNginxConfig());
console.log('wrote docker/nginx.conf');
