// Runs a TypeScript entry point under Node with the project's loaders: node scripts/node-ts.mjs file.ts [args]
// The GPU stack's harmless native log lines are kept out of stderr (native-logs.mjs; LABELFLOW_NATIVE_LOGS=1 shows them).
import { fileURLToPath } from 'node:url';
import { runNode } from './native-logs.mjs';

const register = fileURLToPath(new URL('./register.mjs', import.meta.url));
const [entry, ...args] = process.argv.slice(2);
if (!entry) { console.error('usage: node scripts/node-ts.mjs <file.ts> [args...]'); process.exit(2); }
runNode(['--import', register, entry, ...args]);
