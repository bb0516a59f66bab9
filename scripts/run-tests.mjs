// Runs the given *.test.ts files and those under the given folders with Node's test runner, one file at a time
// (each opens its own WebGPU device; two at once only fight over the 2 cores).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const register = fileURLToPath(new URL('./register.mjs', import.meta.url));
const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const r of roots.length ? roots : ['tests']) {
  if (statSync(r).isDirectory()) walk(r);
  else files.push(r);
}
if (!files.length) { console.error(`no *.test.ts files under ${roots.join(', ')}`); process.exit(1); }
const r = spawnSync(process.execPath, ['--import', register, '--test', '--test-concurrency=1', ...passthrough, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
