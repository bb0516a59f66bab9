// Every GPU op/kernel against its float64 CPU reference, forward and backward (including the
// accumulate path), and every reference backward against finite differences (src/check/ops.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkOps, type OpCheck } from '../../src/check/ops.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';

const EXPECTED = [
  'matmul', 'matmul_transA', 'matmul_transB', 'matmul_batched', 'matmul_bias',
  'matmul_vec4', 'matmul_vec4_trans', 'matmul_vec4_batched', 'matmul_vec4_tile128', 'matmul_shared_a', 'matmul_shared_b',
  'matmul_shared_b_vec4', 'matmul_gelu', 'matmul_gelu_vec4',
  'matmul_residual', 'matmul_residual_vec4', 'matmul_split_k_vec4', 'matmul_split_k', 'matmul_residual_vec4_batched',
  'add', 'scale', 'gelu', 'layernorm', 'layernorm_d192', 'add_layernorm', 'add_layernorm_d384', 'add_layernorm_sum_only', 'softmax',
  'attention', 'attention_n65', 'attention_n65_e64', 'attention_n130', 'attention_e80_rows', 'attention_labels', 'attention_labels_e80_rows', 'soft_cross_entropy', 'patchify', 'embed_tokens', 'gather_token', 'mean_tokens', 'sum',
  'sum_squares', 'column_sum', 'adamw', 'clip_gradients', 'label_init', 'label_propagate',
  'patch_tokens', 'swap_tokens', 'pool_regions', 'max_tokens', 'binary_cross_entropy', 'mean_pairwise_cosine', 'context_scores',
  'loss_tokenmix_bce', 'loss_tokenmix_teacher_ce', 'loss_token_labeling', 'loss_diversepatch', 'loss_diversepatch_paper',
];
/** Checked after the others on adapters with shader-f16 (tests/unit/f16.test.ts runs them alone). */
const EXPECTED_F16 = [
  'matmul_f16_weight', 'matmul_f16_both_vec4', 'matmul_f16_both_scalar', 'matmul_f16_gelu_out', 'matmul_f16_gelu_out_vec4', 'matmul_f16_vec4_tile128', 'layernorm_f16_out',
];

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

const fmt = (x: number | null) => (x === null ? '—' : x.toExponential(2));

function table(results: OpCheck[]): string {
  const rows = results.map((o) =>
    `  ${o.name.padEnd(20)} ${fmt(o.fwd_max_rel).padStart(9)} ${fmt(o.bwd_max_rel).padStart(9)} ${fmt(o.fd_max_rel).padStart(9)}  ${o.ok ? 'ok' : `FAIL ${o.detail}`}`);
  return [`  ${'op'.padEnd(20)} ${'fwd'.padStart(9)} ${'bwd'.padStart(9)} ${'fd'.padStart(9)}`, ...rows].join('\n');
}

test('every op matches its float64 reference (forward, backward, finite differences)', async (t) => {
  const results = await checkOps(gpu, 0);
  const expected = gpu.device.features.has('shader-f16') ? [...EXPECTED, ...EXPECTED_F16] : EXPECTED;
  assert.deepEqual(results.map((o) => o.name), expected, 'one check per op, in order');
  assert.deepEqual(gpu.errors, []);
  for (const o of results) {
    await t.test(`${o.name}: ${o.shapes}`, () => {
      assert.ok(o.ok, `${o.name} fails (tolerance ${o.tolerance}, fd ≤ 1e-6): ${o.detail}\n${table(results)}`);
      assert.ok(o.fwd_max_rel <= o.tolerance);
      if (o.bwd_max_rel !== null) assert.ok(o.bwd_max_rel <= o.tolerance);
      if (o.fd_max_rel !== null) assert.ok(o.fd_max_rel <= 1e-6);
    });
  }
});
