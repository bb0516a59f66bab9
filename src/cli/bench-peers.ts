/**
 * `npm run bench:peers -- [--quick] [--json out.json]`: labelflow's ViT training step beside
 * TensorFlow.js (WebGPU backend) and jax-js (WebGPU, jit) on the same adapter, in Node over Dawn.
 * What is measured and checked: src/bench/peers-bench.ts. Exits 1 when an engine's loss disagrees
 * with labelflow's or an engine fails; the speed and memory targets are printed, not enforced
 * (a software adapter says nothing about a GPU).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { adapterName } from '../gpu/device.ts';
import { installNavigator, openNodeGpu } from '../gpu/node.ts';
import { type EngineName, ENGINES, type PeerBenchOptions, benchPreset, reportTables, runPeerBench } from '../bench/peers-bench.ts';
import { loadTfjsWebgpu } from '../bench/peers/load-tfjs-webgpu.ts';
import { createTfjsPeer } from '../bench/peers/tfjs.ts';
import { loadTfjs, type Tf } from '../check/tfjs-runtime.ts';
import { type FlagSpec, parseArgsOrExit } from './args.ts';

const FLAGS = {
  json: { type: 'string', value: 'out.json', help: 'also write the report as JSON to this file' },
  quick: { type: 'boolean', help: 'the CI check: preset test, batch 8, 2 timed steps, matmul 64 and 128' },
  presets: { type: 'list', value: 'small,base', help: 'ViT presets (quick: test)' },
  batch: { type: 'number', help: 'training batch (quick: 8; full: 128)' },
  samples: { type: 'number', help: 'timed steps per engine, median reported (quick: 2; full: 5)' },
  warmup: { type: 'number', help: 'untimed steps first (at least 2; quick and full: 2)' },
  sizes: { type: 'list', value: '256,1024', help: 'square matmul sizes (quick: 64,128; full: 256,512,1024,2048)' },
  engines: { type: 'list', value: 'labelflow,tfjs,jax', help: 'which engines to run (labelflow is the baseline and runs first)' },
  'peak-gflops': { type: 'number', help: "the adapter's f32 peak, for the matmul target (WebGPU does not tell it)" },
  'no-extras': { type: 'boolean', help: "skip labelflow's memory and TL-Align overhead figures" },
} as const satisfies Record<string, FlagSpec>;

/**
 * Defined (true) in scripts/gpu-kit.mjs's one-file bundle, which has TF.js bundled in: the GPU
 * machine has no esbuild for loadTfjs to bundle it at run time.
 */
declare const LABELFLOW_BUNDLE: boolean | undefined;
const tfjsWebgpu = (): Promise<Tf> =>
  (typeof LABELFLOW_BUNDLE !== 'undefined' && LABELFLOW_BUNDLE ? loadTfjsWebgpu() : loadTfjs('webgpu'));

async function main(): Promise<void> {
  const flags = parseArgsOrExit('npm run bench:peers --', process.argv.slice(2), FLAGS);
  const quick = flags.quick;
  const int = (v: number | undefined, flag: string, fallback: number, min = 1) => {
    if (v === undefined) return fallback;
    if (!Number.isInteger(v) || v < min) fail(`--${flag}: ${v} is not an integer ≥ ${min}`);
    return v;
  };
  const engines = (flags.engines ?? ENGINES) as EngineName[];
  for (const e of engines) if (!ENGINES.includes(e)) fail(`--engines: "${e}" is not one of ${ENGINES.join(', ')}`);
  if (engines.length && engines[0] !== 'labelflow') fail('--engines: labelflow must come first (it is the baseline the others are checked against)');
  let presets;
  try {
    presets = (flags.presets ?? (quick ? ['test'] : ['small', 'base'])).map(benchPreset);
  } catch (e) {
    fail(`--presets: ${(e as Error).message}`);
  }
  const options: PeerBenchOptions = {
    presets,
    batch: int(flags.batch, 'batch', quick ? 8 : 128),
    warmup: int(flags.warmup, 'warmup', 2, 2),
    samples: int(flags.samples, 'samples', quick ? 2 : 5),
    matmulSizes: (flags.sizes ?? (quick ? ['64', '128'] : ['256', '512', '1024', '2048'])).map((s) => int(Number(s), 'sizes', 0)),
    engines,
    peakGflops: flags['peak-gflops'],
    labelflowExtras: !flags['no-extras'],
    adam: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 },
  };

  const probe = await openNodeGpu();
  const adapter = `${adapterName(probe.adapter)}${probe.adapter.isFallbackAdapter ? ' [software]' : ''}`;
  probe.device.destroy();
  const host = `${adapter}; Node ${process.version} over Dawn (webgpu package), ${cpus().length} CPUs`;
  console.log(`bench:peers on ${host}`);

  installNavigator(); // the peers find WebGPU where a browser has it
  const report = await runPeerBench({
    openGpu: openNodeGpu,
    host,
    log: (line) => console.log(line),
    peers: {
      tfjs: async (...args) => createTfjsPeer(await tfjsWebgpu(), ...args),
      jax: async (...args) => (await import('../bench/peers/jaxjs.ts')).createJaxPeer(...args),
    },
  }, options);

  // the command as given, less where its JSON went: what a reader runs to measure the same
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--json' && all[i - 1] !== '--json' && !a.startsWith('--json='));
  console.log(`\nMeasured ${report.date.slice(0, 10)} by \`npm run bench:peers${args.length ? ` -- ${args.join(' ')}` : ''}\` on ${host}:\n`);
  console.log(reportTables(report));
  if (flags.json) {
    writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${flags.json}`);
  }
  if (!report.ok) {
    console.error('\nbench:peers: an engine failed or computed a different loss (see above)');
    process.exit(1);
  }
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
