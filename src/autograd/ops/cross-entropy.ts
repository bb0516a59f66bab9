/**
 * Soft-target cross-entropy, mean over rows (shaders/cross_entropy.wgsl):
 * loss = (1/B) Σ_b Σ_k t_bk (logsumexp(z_b) − z_bk). Targets get no gradient.
 * Also returns per-row correctness (argmax z = argmax t) for accuracy metrics.
 * And binary cross-entropy with logits (torch BCEWithLogitsLoss, mean over all B·K entries).
 * Row kernels run a thread per row, or with subgroups a workgroup per row (rowLaunch, softmax.ts).
 */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { encodeSum } from './reduce.ts';
import { rowLaunch } from './softmax.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

export interface CrossEntropyResult { loss: Tensor; probs: Tensor; correct: Tensor }

export function softCrossEntropy(logits: Tensor, targets: Tensor): CrossEntropyResult {
  const gpu = logits.gpu;
  const [rows, classes] = logits.shape;
  if (logits.shape.length !== 2 || targets.size !== logits.size) {
    throw new Error(`softCrossEntropy: logits [${logits.shape}] and targets [${targets.shape}] must both be [B, K]`);
  }
  const p = { rows, classes, accumulate: 0 };
  const rowLoss = gpu.temp(rows);
  const probs = tempTensor(gpu, [rows, classes], 'ce.probs');
  const correct = tempTensor(gpu, [rows], 'ce.correct');
  const launch = rowLaunch(gpu, rows, classes);
  gpu.run('cross_entropy', `soft_ce_forward${launch.suffix}`, p,
    { logits: logits.storage, targets: targets.storage, row_loss: rowLoss, probs: probs.storage, correct: correct.storage }, launch.grid, { WG: launch.WG });
  const loss = tempTensor(gpu, [1], 'ce.loss');
  encodeSum(gpu, rowLoss, loss.storage, { alpha: 1 / rows });
  // Without subgroups the backward runs a thread per element (each adding up its row's targets).
  const backwardLaunch = launch.suffix ? launch : { suffix: '', grid: rowGrid(rows * classes), WG };
  record('soft_cross_entropy', [logits], loss, (dLoss) =>
    gradInto(logits, (dz, accumulate) =>
      gpu.run('cross_entropy', `soft_ce_backward${backwardLaunch.suffix}`, { ...p, accumulate },
        { targets: targets.storage, saved_probs: probs.storage, dloss: dLoss.storage, dlogits: dz.storage },
        backwardLaunch.grid, { WG: backwardLaunch.WG })));
  return { loss, probs, correct };
}

export interface BinaryCrossEntropyResult { loss: Tensor; correct: Tensor }

/** loss = (1/(B·K)) Σ_bk max(z,0) − t·z + log(1 + exp(−|z|)); dz = (σ(z) − t)/(B·K); targets soft, no gradient. */
export function binaryCrossEntropy(logits: Tensor, targets: Tensor): BinaryCrossEntropyResult {
  const gpu = logits.gpu;
  const [rows, classes] = logits.shape;
  if (logits.shape.length !== 2 || targets.size !== logits.size) {
    throw new Error(`binaryCrossEntropy: logits [${logits.shape}] and targets [${targets.shape}] must both be [B, K]`);
  }
  const p = { rows, classes, accumulate: 0 };
  const rowLoss = gpu.temp(rows);
  const correct = tempTensor(gpu, [rows], 'bce.correct');
  const launch = rowLaunch(gpu, rows, classes);
  gpu.run('cross_entropy', `bce_forward${launch.suffix}`, p,
    { logits: logits.storage, targets: targets.storage, row_loss: rowLoss, correct: correct.storage }, launch.grid, { WG: launch.WG });
  const loss = tempTensor(gpu, [1], 'bce.loss');
  encodeSum(gpu, rowLoss, loss.storage, { alpha: 1 / (rows * classes) });
  record('binary_cross_entropy', [logits], loss, (dLoss) =>
    gradInto(logits, (dz, accumulate) =>
      gpu.run('cross_entropy', 'bce_backward', { ...p, accumulate },
        { logits: logits.storage, targets: targets.storage, dloss: dLoss.storage, dlogits: dz.storage },
        rowGrid(rows * classes), { WG })));
  return { loss, correct };
}
