import { readFile } from 'node:fs/promises';
import { defineConfig, type Plugin } from 'vite';

/** `import src from './x.wgsl'` → the file's text (as esbuild's text loader and scripts/wgsl-hook.mjs do). */
function wgsl(): Plugin {
  return {
    name: 'labelflow-wgsl',
    async load(id) {
      const file = id.split('?')[0];
      if (!file.endsWith('.wgsl')) return null;
      this.addWatchFile(file);
      return { code: `export default ${JSON.stringify(await readFile(file, 'utf8'))};`, map: null };
    },
  };
}

/** The browser bundle must never reach Dawn: the `webgpu` npm package, or src/gpu/node.ts that wraps it. */
function nodeOnly(): Plugin {
  return {
    name: 'labelflow-node-only',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === 'webgpu' || source.startsWith('webgpu/')) this.error(`"${source}" (imported by ${importer}) is the Node-only Dawn package; browser code uses navigator.gpu`);
      return null;
    },
    load(id) {
      if (/[\\/]src[\\/]gpu[\\/]node\.ts$/.test(id.split('?')[0])) this.error(`${id} is Node-only (Dawn); browser code must not import it`);
      return null;
    },
  };
}

/**
 * onnxruntime-web (the teacher, loaded by the worker with a dynamic import of
 * 'onnxruntime-web/webgpu', its own chunk) finds its WebAssembly file with
 * `new URL('ort-wasm-simd-threaded.asyncify.wasm', import.meta.url)`. The build emits the file as
 * an asset next to the chunk and rewrites that URL to it, relative to the chunk (base './'), so a
 * build served from any nested path finds it (the e2e test serves one from /some/nested/path/).
 * The worker must be an ES module for the dynamic import to split. In dev, pre-bundling would move
 * the module away from its .wasm file, so it is excluded from optimizeDeps.
 */
export default defineConfig({
  base: './',
  plugins: [nodeOnly(), wgsl()],
  worker: { format: 'es', plugins: () => [nodeOnly(), wgsl()] },
  optimizeDeps: { exclude: ['webgpu', 'onnxruntime-web'] },
  build: {
    target: 'es2022', outDir: 'dist', emptyOutDir: true,
    // bench.html: the peer benchmark (src/bench/page.ts); the peers load only when it runs.
    rollupOptions: { input: { main: 'index.html', bench: 'bench.html' } },
  },
});
