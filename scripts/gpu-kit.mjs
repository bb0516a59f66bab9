// `npm run gpu:kit`: what scripts/gpu-check.sh needs on a bare GPU machine with no network and no
// npm, packed here into two git-ignored folders that the device tool carries:
//   .gpu-kit/      the CLIs (train, bench, bench:peers) as one-file Node bundles, TF.js and jax-js
//                  inside; their launcher (native-logs.mjs: `node .gpu-kit/native-logs.mjs
//                  .gpu-kit/train.mjs ...` hides harmless native log lines, as npm run does);
//                  the full CIFAR-10 JPEG archive (19 MB) from ../shared
//   .gpu-runtime/  Node, Dawn (the `webgpu` package, linux-x64) and the Vulkan loader
//                  (../shared/gpu/pack-runtime.sh)
// Then, on the device: `source .gpu-runtime/activate.sh && bash scripts/gpu-check.sh`, with both
// folders carried. Locally the same two commands run the check on the software adapter
// (GPU_CHECK_QUICK=1 for shapes it can take).
// `--bundles-only [--out DIR]`: only the bundles, into DIR (tests/unit/gpu-kit.test.ts).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const bundlesOnly = args.includes('--bundles-only');
const outAt = args.indexOf('--out');
const kit = outAt >= 0 ? resolve(args[outAt + 1]) : join(root, '.gpu-kit');
const runtime = join(root, '.gpu-runtime');
const cifar = join(root, '..', 'shared', 'datasets', 'cifar10', 'cifar10-jpg.tar.gz');

const CLIS = { train: 'src/cli/train.ts', bench: 'src/cli/bench.ts', 'bench-peers': 'src/cli/bench-peers.ts' };
const LAUNCHER = ['native-logs.mjs', 'tty-stderr.mjs'];
// tfjs-core's Node platform calls require('util'); an ES module has no `require` of its own.
const REQUIRE_SHIM = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

rmSync(kit, { recursive: true, force: true });
mkdirSync(kit, { recursive: true });
for (const [name, entry] of Object.entries(CLIS)) {
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(kit, `${name}.mjs`),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // TF.js's ES module builds, as loadTfjs bundles them (src/check/tfjs-runtime.ts)
    mainFields: ['module', 'main'],
    loader: { '.wgsl': 'text' },
    define: { LABELFLOW_BUNDLE: 'true' },
    // webgpu: installed into node_modules by activate.sh (a native addon); esbuild: only the
    // unbundled loadTfjs path uses it; onnxruntime-web: only --teacher, which the check does not run
    external: ['webgpu', 'esbuild', 'onnxruntime-web'],
    banner: { js: REQUIRE_SHIM },
    logLevel: 'warning',
  });
}
// The launcher that keeps the GPU stack's harmless native log lines out of stderr, as npm run does.
for (const f of LAUNCHER) copyFileSync(join(root, 'scripts', f), join(kit, f));
if (bundlesOnly) process.exit(0);
if (!existsSync(cifar)) throw new Error(`gpu:kit: ${cifar} not found (the shared CIFAR-10 archive)`);
copyFileSync(cifar, join(kit, 'cifar10-jpg.tar.gz'));
if (!existsSync(join(runtime, 'activate.sh'))) {
  execFileSync('bash', [join(root, '..', 'shared', 'gpu', 'pack-runtime.sh'), runtime], { cwd: root, stdio: 'inherit' });
}
const mib = (p) => (statSync(p).size / 2 ** 20).toFixed(1);
for (const f of [...Object.keys(CLIS).map((n) => `${n}.mjs`), 'cifar10-jpg.tar.gz']) console.log(`.gpu-kit/${f}: ${mib(join(kit, f))} MiB`);
console.log(`.gpu-runtime: ${execFileSync('du', ['-sh', runtime], { encoding: 'utf8' }).split('\t')[0]}`);
