// npm run demo: runs the demo from dist/ when `npm run build` is newer than src/; otherwise from a
// transpile-only build of src/ into .demo-build/ (a second or two, where `npm run build` checks
// types and emits two module formats with declarations, which a demo does not need).
// Arguments pass through: npm run demo -- --mode non-sticky.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const distCli = path.join(root, 'dist/esm/demo/cli.js');
const quickDir = path.join(root, '.demo-build');
const quickCli = path.join(quickDir, 'demo/cli.js');

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

const newestSource = Math.max(...sources(src).map((file) => statSync(file).mtimeMs));
const fresh = (file) => existsSync(file) && statSync(file).mtimeMs >= newestSource;

async function quickBuild() {
  const started = performance.now();
  const files = sources(src);
  process.stdout.write(`building the demo from src/ (${files.length} files, transpiled without type checking)… `);
  const { default: ts } = await import('typescript');
  rmSync(quickDir, { recursive: true, force: true });
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, esModuleInterop: true },
    });
    const out = path.join(quickDir, path.relative(src, file)).replace(/\.ts$/, '.js');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(path.join(quickDir, 'package.json'), '{ "type": "module" }\n');
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

let cli = distCli;
if (!fresh(distCli)) {
  cli = quickCli;
  if (!fresh(quickCli)) await quickBuild();
}
await import(cli);
