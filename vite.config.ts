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

export default defineConfig({
  base: './',
  plugins: [nodeOnly(), wgsl()],
  worker: { format: 'es', plugins: () => [nodeOnly(), wgsl()] },
  optimizeDeps: { exclude: ['webgpu'] },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
});
