// Type-checks the packed package as consumer projects see it. Packs the built dist/ once, checks the
// tarball with attw, then compiles each test/types/consumers/<case>/ (a package.json and sources)
// in a project of its own, strict and with skipLibCheck off: the tarball unpacked into
// node_modules, next to only the packages the case's package.json lists (linked from this
// repository's node_modules), so a type the package needs from a package the consumer did not
// install (prom-client, say) fails the case. Needs `npm run build` first.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cases = join(root, 'test/types/consumers');
const bin = (name) => join(root, 'node_modules/.bin', name);
const tsconfig = {
  compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
  include: ['*.ts'],
};

if (!existsSync(join(root, 'dist/esm/index.d.ts'))) {
  console.error('type-tests: dist/ is missing: run npm run build first');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'msm-types-'));
let failed = 0;
try {
  // --ignore-scripts: pack the dist/ just built (packing runs the build otherwise).
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }));
  const tarball = join(work, packed.filename);
  execFileSync(bin('attw'), [tarball, '--quiet'], { stdio: 'inherit' });

  for (const name of readdirSync(cases)) {
    const project = join(work, name);
    cpSync(join(cases, name), project, { recursive: true });
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    const modules = join(project, 'node_modules');
    mkdirSync(modules);
    execFileSync('tar', ['-xzf', tarball, '-C', modules]);
    renameSync(join(modules, 'package'), join(modules, 'memcached-session-manager'));
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })) {
      if (dependency === packed.name) continue;
      const target = join(modules, dependency);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(root, 'node_modules', dependency), target, 'dir');
    }
    try {
      execFileSync(bin('tsc'), ['-p', project], { stdio: 'inherit' });
      console.log(`type-tests: ${name} ok`);
    } catch {
      console.error(`type-tests: ${name} FAILED (test/types/consumers/${name})`);
      failed++;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
