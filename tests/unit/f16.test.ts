// The optional f16 path (shader-f16): f16 rounding on the CPU, the registry's f16 alias variants,
// and the f16 matmul variants (f16 A, B read through an f16 copy, f16 output) against float64
// references computed from the f16-rounded inputs, forward and backward (src/check/ops.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkHalfOps } from '../../src/check/ops.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { fromHalfBits, roundHalf, toHalfBits } from '../../src/gpu/half.ts';
import { SHADER_SOURCES, shaderVariant } from '../../src/gpu/kernels.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

test('f16 rounding: exact values, ties to even, subnormals, overflow', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
    [1.5 * 2 ** -25, 0x0001], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66], [-0, 0x8000],
  ];
  for (const [x, bits] of cases) assert.equal(toHalfBits(x), bits, `toHalfBits(${x})`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  for (let h = 0; h < 0x7c00; h += 37) assert.equal(toHalfBits(fromHalfBits(h)), h, `round trip of 0x${h.toString(16)}`);
  assert.equal(roundHalf(1 / 3), 0.333251953125);
});

test('shaderVariant compiles the named aliases as f16 and refuses an unknown one', () => {
  const src = shaderVariant(SHADER_SOURCES.matmul, false, 'matmul', ['A_T', 'C_T']);
  assert.ok(src.startsWith('enable f16; '));
  assert.match(src, /^alias A_T = f16;$/m);
  assert.match(src, /^alias B_T = f32;$/m);
  assert.match(src, /^alias C_T = f16;$/m);
  assert.equal(src.split('\n').length, SHADER_SOURCES.matmul.split('\n').length, 'line numbers kept');
  assert.equal(shaderVariant(SHADER_SOURCES.matmul, false, 'matmul'), SHADER_SOURCES.matmul);
  assert.throws(() => shaderVariant(SHADER_SOURCES.matmul, false, 'matmul', ['Q_T']), /no line "alias Q_T = f32;"/);
});

test('f16 matmul variants against float64 on f16-rounded inputs, forward and backward', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  const results = await checkHalfOps(gpu);
  assert.ok(results.length >= 6);
  for (const r of results) {
    console.log(`${r.name} ${r.shapes}: fwd ${r.fwd_max_rel.toExponential(2)} bwd ${r.bwd_max_rel?.toExponential(2)} ref-vs-fd ${r.fd_max_rel?.toExponential(2)} (tol ${r.tolerance.toExponential(2)})`);
    assert.ok(r.ok, `${r.name}: ${r.detail}`);
  }
});
