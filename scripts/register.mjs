// `node --import ./scripts/register.mjs file.ts`: TypeScript through tsx, WGSL as text.
import { register } from 'node:module';
import 'tsx/esm';
register('./wgsl-hook.mjs', import.meta.url);
