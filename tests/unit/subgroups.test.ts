// The subgroup variants of the row reductions (src/gpu/kernels.ts: shaderVariant). Every op whose
// kernels have one (LayerNorm, addLayerNorm, softmax, soft and binary cross-entropy, sums) runs
// with subgroups on and forced off on the same device, each against its float64 reference,
// forward and backward (twice: the second backward checks the accumulate path), at row lengths
// that leave partial subgroups and rows longer than a workgroup. The variant mechanism itself is
// checked too, and that the subgroup path really runs where the adapter has the feature.
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { add, backwardFrom, binaryCrossEntropy, clearTape, layerNorm, scale, softCrossEntropy, softmax, type Tensor, tensorFrom } from '../../src/autograd/index.ts';
import { addLayerNorm, LAYERNORM_EPS } from '../../src/autograd/ops/layernorm.ts';
import { encodeSum } from '../../src/autograd/ops/reduce.ts';
import * as ref from '../../src/autograd/reference/index.ts';
import { type Gpu, type Storage } from '../../src/gpu/gpu.ts';
import { SHADER_INCLUDES, SHADER_SOURCES, shaderVariant } from '../../src/gpu/kernels.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { Rng } from '../../src/nn/random.ts';

/** Row lengths: one value, a partial subgroup, just past 32, past the 128 threads of a row workgroup. */
const ROW_LENGTHS = [1, 7, 33, 130, 300];
const ROWS = 37;
/** Normwise relative error allowed, as src/check/ops.ts's F32_TOL. */
const TOL = 1e-4;
const PATHS = ['subgroups', 'workgroup memory'] as const;
type Path = (typeof PATHS)[number];
const REDUCED_FILES = ['layernorm', 'reduce', 'softmax', 'cross_entropy'] as const;

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

/** Worst error of each op's output or gradient on each path, for the summary at the end. */
const worst = new Map<string, Partial<Record<Path, number>>>();

type Vec = Float64Array;
interface Input { name: string; shape: number[]; data: Float32Array; grad?: boolean }
interface RowCase {
  name: string;
  inputs: Input[];
  /** Outputs; outputs[0] is differentiated. */
  gpu(t: Tensor[]): Tensor[];
  forward(x: Vec[]): Vec[];
  /** Reference gradients of the inputs marked `grad`, in order, given d outputs[0] = r. */
  backward(x: Vec[], r: Vec): Vec[];
}

/** max_i |got − want| / max_i |want| (absolute when want is all zeros). */
function normwise(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scaleOf = 0, err = 0;
  for (let i = 0; i < want.length; i++) scaleOf = Math.max(scaleOf, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (scaleOf || 1);
    err = Number.isNaN(e) ? Infinity : Math.max(err, e);
  }
  return err;
}

/** Compares one tensor; `what` (op and tensor) names it in the summary, `where` (its shape) in a failure. */
function check(what: string, path: Path, where: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length, `${what} ${where} (${path}): length`);
  const err = normwise(got, want);
  const row = worst.get(what) ?? {};
  row[path] = Math.max(row[path] ?? 0, err);
  worst.set(what, row);
  assert.ok(err <= TOL, `${what} ${where} (${path}): normwise relative error ${err.toExponential(2)} > ${TOL}`);
}

async function readAll(storages: Storage[]): Promise<Vec[]> {
  const reads = storages.map((s) => gpu.readback(s));
  gpu.flush();
  return (await Promise.all(reads)).map((a) => Float64Array.from(a));
}

function usePath(t: TestContext, path: Path): boolean {
  if (path === 'subgroups' && !gpu.hasSubgroups) {
    t.skip(`the adapter (${gpu.adapter.description || gpu.adapter.device}) lacks the 'subgroups' feature`);
    return false;
  }
  gpu.kernels.subgroups = path === 'subgroups';
  return true;
}

async function runCase(c: RowCase, rng: Rng, path: Path, n: number): Promise<void> {
  const where = `at [${ROWS},${n}]`;
  const x = c.inputs.map((i) => Float64Array.from(i.data));
  const tensors = c.inputs.map((i) => tensorFrom(gpu, i.shape, i.data, !!i.grad, i.name));
  const owned = [...tensors];
  try {
    const outs = c.gpu(tensors);
    const got = await readAll(outs.map((o) => o.storage));
    c.forward(x).forEach((want, k) => check(`${c.name} out${k}`, path, where, got[k], want));

    const r = rng.fill(outs[0].size, () => rng.uniform(-1, 1));
    const R = tensorFrom(gpu, outs[0].shape, r, false, 'R');
    owned.push(R);
    const withGrad = tensors.filter((t) => t.requiresGrad);
    backwardFrom(outs[0], R);
    const first = await readAll(withGrad.map((t) => t.grad!.storage));
    backwardFrom(c.gpu(tensors)[0], R); // accumulates onto `first`
    const second = await readAll(withGrad.map((t) => t.grad!.storage));
    const names = c.inputs.filter((i) => i.grad).map((i) => i.name);
    c.backward(x, Float64Array.from(r)).forEach((want, k) => {
      check(`${c.name} d${names[k]}`, path, where, first[k], want);
      check(`${c.name} d${names[k]} (accumulate)`, path, where, second[k].map((v, i) => v - first[k][i]), want);
    });
    assert.deepEqual(gpu.errors, []);
  } finally {
    clearTape();
    gpu.endStep();
    for (const t of owned) t.storage.buffer.destroy();
  }
}

const normal = (rng: Rng, n: number, std = 1, mean = 0) => rng.fill(n, () => mean + std * rng.normal());

/**
 * Logits and soft targets where a wrong tie-break shows in `correct` (the first maximum wins):
 * rows 0, 3, 6… have the logits' maximum at two places i < j and the target's at i; rows 1, 4, 7…
 * have targets 0.5 at i and j and the logits' maximum at i; the other rows are random distributions.
 */
function logitsAndTargets(rng: Rng, rows: number, n: number): [Float32Array, Float32Array] {
  const z = normal(rng, rows * n, 2);
  const t = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const zr = z.subarray(r * n, (r + 1) * n), tr = t.subarray(r * n, (r + 1) * n);
    const top = Math.max(...zr) + 1;
    const i = rng.int(n), j = i + 1 + rng.int(Math.max(1, n - i - 1));
    if (r % 3 === 2 || j >= n) {
      let total = 0;
      for (let k = 0; k < n; k++) total += (tr[k] = rng.next() ** 3);
      for (let k = 0; k < n; k++) tr[k] /= total;
    } else if (r % 3 === 0) {
      zr[i] = zr[j] = top;
      tr[i] = 1;
    } else {
      zr[i] = top;
      tr[i] = tr[j] = 0.5;
    }
  }
  return [z, t];
}

function cases(rng: Rng, n: number): RowCase[] {
  const gamma = normal(rng, n, 0.2, 1), beta = normal(rng, n, 0.5);
  const [zSoft, tSoft] = logitsAndTargets(rng, ROWS, n), [zBinary, tBinary] = logitsAndTargets(rng, ROWS, n);
  const params: Input[] = [{ name: 'gamma', shape: [n], data: gamma, grad: true }, { name: 'beta', shape: [n], data: beta, grad: true }];
  return [
    {
      name: 'layernorm',
      inputs: [{ name: 'x', shape: [ROWS, n], data: normal(rng, ROWS * n, 2, 3), grad: true }, ...params],
      gpu: ([x, g, b]) => [layerNorm(x, g, b, LAYERNORM_EPS)],
      forward: ([x, g, b]) => [ref.layerNorm(x, g, b, n, LAYERNORM_EPS).y],
      backward: ([x, g], r) => { const d = ref.layerNormBackward(x, g, r, n, LAYERNORM_EPS); return [d.dx, d.dgamma, d.dbeta]; },
    },
    {
      // out0 = normed + 0.7·sum: the sum's gradient also arrives from outside (has_dsum).
      name: 'add_layernorm',
      inputs: [
        { name: 'x', shape: [ROWS, n], data: normal(rng, ROWS * n, 2, 3), grad: true },
        { name: 'r', shape: [ROWS, n], data: normal(rng, ROWS * n), grad: true }, ...params,
      ],
      gpu: ([x, r, g, b]) => { const o = addLayerNorm(x, r, g, b, LAYERNORM_EPS); return [add(o.normed, scale(o.sum, 0.7)), o.sum, o.normed]; },
      forward: ([x, r, g, b]) => { const o = ref.addLayerNorm(x, r, g, b, n, LAYERNORM_EPS); return [o.y.map((v, i) => v + 0.7 * o.sum[i]), o.sum, o.y]; },
      backward: ([x, r, g], d) => {
        const o = ref.addLayerNormBackward(x, r, g, ref.scale(d, 0.7), d, n, LAYERNORM_EPS);
        return [o.dx, o.dr, o.dgamma, o.dbeta];
      },
    },
    {
      name: 'softmax',
      inputs: [{ name: 'x', shape: [ROWS, n], data: normal(rng, ROWS * n, 3), grad: true }],
      gpu: ([x]) => [softmax(x)],
      forward: ([x]) => [ref.softmax(x, n)],
      backward: ([x], r) => [ref.softmaxBackward(ref.softmax(x, n), r, n)],
    },
    {
      name: 'soft_cross_entropy',
      inputs: [
        { name: 'logits', shape: [ROWS, n], data: zSoft, grad: true }, { name: 'targets', shape: [ROWS, n], data: tSoft },
      ],
      gpu: ([z, t]) => { const o = softCrossEntropy(z, t); return [o.loss, o.probs, o.correct]; },
      forward: ([z, t]) => { const o = ref.softCrossEntropy(z, t, n); return [Float64Array.of(o.loss), o.probs, o.correct]; },
      backward: ([z, t], r) => [ref.softCrossEntropyBackward(z, t, n, r[0])],
    },
    {
      name: 'binary_cross_entropy',
      inputs: [
        { name: 'logits', shape: [ROWS, n], data: zBinary, grad: true }, { name: 'targets', shape: [ROWS, n], data: tBinary },
      ],
      gpu: ([z, t]) => { const o = binaryCrossEntropy(z, t); return [o.loss, o.correct]; },
      forward: ([z, t]) => { const o = ref.binaryCrossEntropy(z, t, n); return [Float64Array.of(o.loss), o.correct]; },
      backward: ([z, t], r) => [ref.binaryCrossEntropyBackward(z, t, r[0])],
    },
  ];
}

test('shaderVariant keeps @subgroups or @else lines, on the file\'s own line numbers', () => {
  const src = ['// head', 'a', '// @subgroups', 'b', '// @else', 'c', '// @end', 'd'].join('\n');
  assert.equal(shaderVariant(src, true, 't'), ['enable subgroups; // head', 'a', '', 'b', '', '', '', 'd'].join('\n'));
  assert.equal(shaderVariant(src, false, 't'), ['// head', 'a', '', '', '', 'c', '', 'd'].join('\n'));
  assert.equal(shaderVariant('x\ny', true, 't'), 'x\ny', 'no region, no directive');
  assert.throws(() => shaderVariant('// @subgroups\nb', true, 't'), /shaders\/t\.wgsl: @subgroups region not closed/);
  assert.throws(() => shaderVariant('a\n// @end', true, 't'), /shaders\/t\.wgsl:2: @end without @subgroups/);
  assert.throws(() => shaderVariant('// @else', false, 't'), /shaders\/t\.wgsl:1: @else without @subgroups/);
  for (const file of REDUCED_FILES) assert.match(SHADER_SOURCES[file], /^\s*\/\/ @subgroups$/m, `shaders/${file}.wgsl has a subgroup variant`);
});

test('@include appends a shared file once, after the last line, only where its line is kept', () => {
  const src = ['a', '// @subgroups', '// @include subgroup_reduce', '// @include subgroup_reduce', '// @end', 'b'].join('\n');
  const on = shaderVariant(src, true, 't').split('\n');
  assert.deepEqual(on.slice(0, 6), ['enable subgroups; a', '', '// @include subgroup_reduce', '// @include subgroup_reduce', '', 'b'], 'the file keeps its line numbers');
  assert.equal(on.slice(6).join('\n'), `// ---- shaders/subgroup_reduce.wgsl (@include)\n${SHADER_INCLUDES.subgroup_reduce}`);
  assert.equal(shaderVariant(src, false, 't'), ['a', '', '', '', '', 'b'].join('\n'));
  assert.throws(() => shaderVariant('x\n// @include nothing_here', true, 't'), /shaders\/t\.wgsl:2: @include of unknown "nothing_here"/);
  for (const file of ['softmax', 'cross_entropy'] as const) {
    assert.equal(shaderVariant(SHADER_SOURCES[file], true, file).split('fn workgroup_reduce2(').length, 2, `${file}: workgroup_reduce2 defined once`);
  }
});

test('the registry compiles the subgroup variant where the adapter has the feature, and the other when forced off', async (t) => {
  if (!gpu.hasSubgroups) {
    assert.equal(gpu.kernels.subgroups, false);
    assert.throws(() => { gpu.kernels.subgroups = true; }, /without the 'subgroups' feature/);
    t.skip(`the adapter (${gpu.adapter.description || gpu.adapter.device}) lacks the 'subgroups' feature`);
    return;
  }
  assert.equal(gpu.kernels.subgroups, true, 'on by default when the device has the feature');
  for (const file of REDUCED_FILES) {
    assert.match(gpu.kernels.source(file), /^enable subgroups; /, `${file}: directive`);
    assert.match(gpu.kernels.source(file), /subgroupAdd\(/, `${file}: subgroup code kept`);
  }
  await gpu.kernels.checkAll();
  gpu.kernels.subgroups = false;
  try {
    for (const file of REDUCED_FILES) assert.doesNotMatch(gpu.kernels.source(file), /subgroup\w*\(|enable subgroups/, `${file}: no subgroup code`);
    await gpu.kernels.checkAll();
  } finally {
    gpu.kernels.subgroups = true;
  }
});

test('the two paths really differ (other low bits in per-workgroup partial sums); each is deterministic', async (t) => {
  if (!usePath(t, 'subgroups')) return;
  const rng = new Rng(11);
  const x = rng.fill(256 * 256, () => rng.uniform(0, 1));
  const src = gpu.temp(x.length);
  gpu.write(src, x);
  const partialSums = async (path: Path) => {
    gpu.kernels.subgroups = path === 'subgroups';
    const partial = gpu.temp(256);
    gpu.run('reduce', 'sum_partial', { n: x.length, cols: 1, square: 0, alpha: 1, accumulate: 0, split: 0, accumulate2: 0 }, { src, dst: partial }, [256], { WG: 256 });
    return gpu.read(partial);
  };
  try {
    const [withSubgroups, without] = [await partialSums('subgroups'), await partialSums('workgroup memory')];
    assert.deepEqual(await partialSums('subgroups'), withSubgroups, 'the same bits on a second run');
    const differing = withSubgroups.filter((v, i) => v !== without[i]).length;
    t.diagnostic(`${differing} of 256 partial sums differ in their bits between the paths`);
    assert.ok(differing > 0, 'the subgroup variant should sum in another order than the tree');
    assert.ok(normwise(withSubgroups, without) < 1e-6);
  } finally {
    gpu.kernels.subgroups = true;
    gpu.endStep();
  }
});

// The ops launch power-of-two workgroups, which subgroups usually fill. A workgroup of 38 threads
// ends in a partial subgroup at every subgroup size from 4 to 128, one of 100 at every size but 4.
test('subgroups: row kernels on workgroups of 38 and 100 threads, which end in a partial subgroup', async (t) => {
  if (!usePath(t, 'subgroups')) return;
  const rng = new Rng(5);
  const rows = 9, n = 300;
  const x = normal(rng, rows * n, 2, 3), gamma = normal(rng, n, 0.2, 1), beta = normal(rng, n, 0.5);
  const [z, targets] = logitsAndTargets(rng, rows, n);
  const upload = (a: Float32Array) => { const s = gpu.temp(a.length); gpu.write(s, a); return s; };
  const [X, G, B, Z, T] = [x, gamma, beta, z, targets].map(upload);
  const wantCe = ref.softCrossEntropy(z, targets, n);
  try {
    for (const WG of [38, 100]) {
      const [y, stats, probs, rowLoss, ceProbs, correct, total] =
        [rows * n, 2 * rows, rows * n, rows, rows * n, rows, 1].map((size) => gpu.temp(size));
      const ln = { rows, dim: n, eps: LAYERNORM_EPS, write_x: 0, write_r: 0, has_dsum: 0, chunk_rows: 0, chunks: 0 };
      gpu.run('layernorm', 'layernorm_forward', ln, { x: X, r: X, gamma: G, beta: B, y, stats }, [rows], { WG });
      gpu.run('softmax', 'softmax_forward_subgroups', { rows, n, accumulate: 0 }, { x: X, dst: probs }, [rows], { WG });
      gpu.run('cross_entropy', 'soft_ce_forward_subgroups', { rows, classes: n, accumulate: 0 },
        { logits: Z, targets: T, row_loss: rowLoss, probs: ceProbs, correct }, [rows], { WG });
      gpu.run('reduce', 'sum_final', { n: rows * n, cols: 1, square: 0, alpha: 1, accumulate: 0, split: 0, accumulate2: 0 }, { src: X, dst: total }, [1], { WG });
      const got = await readAll([y, probs, rowLoss, ceProbs, correct, total]);
      const where = `WG=${WG}`;
      check('layernorm out0 (WG 38, 100)', 'subgroups', where, got[0], ref.layerNorm(x, gamma, beta, n, LAYERNORM_EPS).y);
      check('softmax out0 (WG 38, 100)', 'subgroups', where, got[1], ref.softmax(x, n));
      check('soft_cross_entropy out0 (WG 38, 100)', 'subgroups', where, [got[2].reduce((a, b) => a + b) / rows], [wantCe.loss]);
      check('soft_cross_entropy out1 (WG 38, 100)', 'subgroups', where, got[3], wantCe.probs);
      check('soft_cross_entropy out2 (WG 38, 100)', 'subgroups', where, got[4], wantCe.correct);
      check('sum (WG 38, 100)', 'subgroups', where, got[5], [ref.sum(x)]);
    }
    assert.deepEqual(gpu.errors, []);
  } finally {
    gpu.endStep();
  }
});

for (const path of PATHS) {
  for (const n of ROW_LENGTHS) {
    test(`${path}: LayerNorm, addLayerNorm, softmax, cross-entropies at row length ${n}`, async (t) => {
      if (!usePath(t, path)) return;
      const rng = new Rng(1000 + n);
      try {
        for (const c of cases(rng, n)) await runCase(c, rng, path, n);
      } finally {
        gpu.kernels.subgroups = gpu.hasSubgroups;
      }
    });
  }

  test(`${path}: sums and sums of squares (encodeSum) of 1..100003 values`, async (t) => {
    if (!usePath(t, path)) return;
    try {
      for (const n of [...ROW_LENGTHS, 100_003]) {
        const rng = new Rng(n);
        const x = rng.fill(n, () => rng.uniform(0, 1));
        const start = rng.uniform(-1, 1);
        const src = gpu.temp(n);
        const [sum, squares, accumulated] = [gpu.temp(1), gpu.temp(1), gpu.temp(1)];
        gpu.write(src, x);
        gpu.write(accumulated, Float32Array.of(start));
        encodeSum(gpu, src, sum, { alpha: 0.5 });
        encodeSum(gpu, src, squares, { square: true });
        encodeSum(gpu, src, accumulated, { accumulate: true });
        const got = await Promise.all([sum, squares, accumulated].map((s) => gpu.read(s)));
        gpu.endStep();
        const where = `of ${n} values`;
        check('sum', path, where, got[0], [ref.sum(x, 0.5)]);
        check('sum_squares', path, where, got[1], [ref.sumSquares(x)]);
        check('sum (accumulate)', path, where, got[2], [ref.sum(x) + start]);
      }
      assert.deepEqual(gpu.errors, []);
    } finally {
      gpu.kernels.subgroups = gpu.hasSubgroups;
    }
  });
}

test('worst errors', (t) => {
  const fmt = (v?: number) => (v === undefined ? '—' : v.toExponential(2)).padStart(18);
  t.diagnostic(`normwise relative error vs float64, worst over row lengths ${ROW_LENGTHS.join(', ')} (tolerance ${TOL})`);
  t.diagnostic(`${''.padEnd(42)}${PATHS.map((p) => p.padStart(18)).join('')}`);
  for (const [what, row] of worst) t.diagnostic(`${what.padEnd(42)}${PATHS.map((p) => fmt(row[p])).join('')}`);
});
