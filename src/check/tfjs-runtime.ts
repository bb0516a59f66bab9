/**
 * Loads TF.js (tfjs-core + a backend + every registered gradient) in Node, once per process and
 * backend: the CPU backend for the reference check, the WebGPU backend for `npm run bench:peers`.
 *
 * Why a bundle: tfjs-core's Node entry (dist/tf-core.node.js) registers no gradients, and the file
 * that does (dist/register_all_gradients.js) is ES module source with extension-less imports that
 * Node cannot load. So esbuild bundles core + gradients + CPU backend from their ES module builds
 * into one module with a single copy of tfjs-core (what the `@tensorflow/tfjs` package does), which
 * is written to the temp directory, imported and deleted. Node only; the browser never imports it.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as TfCore from '@tensorflow/tfjs-core';

export type Tf = typeof TfCore;

export type TfBackend = 'cpu' | 'webgpu';

const entry = (backend: TfBackend) => [
  "export * from '@tensorflow/tfjs-core';",
  "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
  `import '@tensorflow/tfjs-backend-${backend}';`,
].join('\n');

// tfjs-core's Node platform calls require('util'); an ES module has no `require` of its own.
const REQUIRE_SHIM = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

const loading = new Map<TfBackend, Promise<Tf>>();

/**
 * TF.js on its CPU backend (float32) or its WebGPU backend, with gradients. WebGPU needs
 * `navigator.gpu` defined first (Node: from the `webgpu` package, src/gpu/node.ts).
 */
export function loadTfjs(backend: TfBackend = 'cpu'): Promise<Tf> {
  if (!loading.has(backend)) loading.set(backend, load(backend));
  return loading.get(backend)!;
}

async function load(backend: TfBackend): Promise<Tf> {
  const { build } = await import('esbuild');
  const bundle = await build({
    stdin: { contents: entry(backend), resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    mainFields: ['module', 'main'],
    banner: { js: REQUIRE_SHIM },
    write: false,
    logLevel: 'warning',
  });
  const file = join(tmpdir(), `labelflow-tfjs-${backend}-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(file, bundle.outputFiles[0].text);
  let tf: Tf;
  try {
    tf = (await import(pathToFileURL(file).href)) as Tf;
  } finally {
    unlinkSync(file);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js: the ${backend} backend did not initialise`);
  // The CPU backend suggests installing tfjs-node on first use; this check wants the CPU backend.
  if (backend === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return tf;
}
