/**
 * `npm run gradcheck -- [--json out.json] [--seed N]`
 * Every kernel against its float64 CPU reference (forward and backward), the reference backward
 * against finite differences, the whole `test` ViT against float64 finite differences, and the
 * same ViT against an independent TensorFlow.js implementation. Exits 1 if any check fails.
 */
import { writeFileSync } from 'node:fs';
import { checkModelFiniteDifference } from '../check/finite-difference.ts';
import { checkOps } from '../check/ops.ts';
import { compareWithTfjs } from '../check/tfjs-reference.ts';
import { adapterName } from '../gpu/device.ts';
import { openNodeGpu } from '../gpu/node.ts';
import { parseArgsOrExit } from './args.ts';

const args = parseArgsOrExit('npm run gradcheck --', process.argv.slice(2), {
  json: { type: 'string', value: 'out.json', help: 'write the report as JSON' },
  seed: { type: 'number', help: 'seed of the random shapes, inputs and model (default 0)' },
});
const seed = args.seed ?? 0;
const gpu = await openNodeGpu();
console.log(`adapter: ${adapterName(gpu.adapter)}`);

const fmt = (x: number | null) => (x === null ? '—' : x.toExponential(2));
const ops = await checkOps(gpu, seed);
console.log('\n| op | shapes | fwd max rel | bwd max rel | ref vs finite diff | tolerance | ok |\n|---|---|---|---|---|---|---|');
for (const o of ops) console.log(`| ${o.name} | ${o.shapes} | ${fmt(o.fwd_max_rel)} | ${fmt(o.bwd_max_rel)} | ${fmt(o.fd_max_rel)} | ${o.tolerance} | ${o.ok ? 'yes' : 'NO'} |`);

const fd = await checkModelFiniteDifference(gpu, { seed });
console.log(`\nfinite differences, whole test ViT: ${fd.entries} entries, max rel ${fmt(fd.max_rel)} (≤ ${fd.tolerance}) ${fd.ok ? 'ok' : 'FAILED'}; worst ${fd.worst}`);

const tf = await compareWithTfjs(gpu, { seed });
console.log(`TensorFlow.js reference: loss rel ${fmt(tf.loss_rel)} (≤ 1e-5), grad max rel ${fmt(tf.grad_max_rel)} (≤ 1e-4, worst ${tf.worst}) ${tf.ok ? 'ok' : 'FAILED'}`);

const ok = ops.every((o) => o.ok) && fd.ok && tf.ok;
const report = {
  adapter: gpu.adapter,
  ops: ops.map(({ name, shapes, fwd_max_rel, bwd_max_rel, fd_max_rel, tolerance, ok }) => ({ name, shapes, fwd_max_rel, bwd_max_rel, fd_max_rel, tolerance, ok })),
  finite_difference: { max_rel: fd.max_rel, entries: fd.entries, tolerance: fd.tolerance, worst: fd.worst, ok: fd.ok },
  independent_reference: { loss_rel: tf.loss_rel, grad_max_rel: tf.grad_max_rel, worst: tf.worst, ok: tf.ok },
  ok,
};
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
console.log(`\ngradcheck: ${ok ? 'all checks passed' : 'FAILED'}`);
process.exit(ok ? 0 : 1);
