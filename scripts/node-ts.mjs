// Runs a TypeScript entry point under Node with the project's loaders: node scripts/node-ts.mjs file.ts [args]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const register = fileURLToPath(new URL('./register.mjs', import.meta.url));
const [entry, ...args] = process.argv.slice(2);
if (!entry) { console.error('usage: node scripts/node-ts.mjs <file.ts> [args...]'); process.exit(2); }
const r = spawnSync(process.execPath, ['--import', register, entry, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
