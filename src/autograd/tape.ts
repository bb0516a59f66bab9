/**
 * The tape: ops append a backward closure as they run forward; backward() walks it in reverse.
 * Like micrograd, every backward rule accumulates into its inputs' gradients (gradInto), so a
 * tensor used twice receives both contributions. Parameters own gradient buffers that persist
 * across steps (zeroed by the optimizer's zeroGrad); other gradients are step-scoped.
 */
import { type Storage } from '../gpu/gpu.ts';
import { tempTensor, Tensor } from './tensor.ts';

interface Node {
  op: string;
  output: Tensor;
  backward: (dOut: Tensor) => void;
}

let nodes: Node[] = [];
let recording = true;
/** Gradient buffers the tape allocated this step (not parameters' nor a caller's seed). */
const tapeGrads = new WeakSet<Tensor>();

export function isRecording(): boolean {
  return recording;
}

/** Runs fn without building a graph (label propagation, evaluation, metrics). */
export function noGrad<T>(fn: () => T): T {
  const was = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = was;
  }
}

/** Called by every op after its forward dispatch; records only when some input needs a gradient. */
export function record(op: string, inputs: Tensor[], output: Tensor, backward: (dOut: Tensor) => void): Tensor {
  if (recording && inputs.some((t) => t.requiresGrad)) {
    output.requiresGrad = true;
    nodes.push({ op, output, backward });
  }
  return output;
}

/**
 * Hands `write` the buffer that receives t's gradient contribution and whether to add to what is
 * there (accumulate) or overwrite a fresh buffer. Does nothing when t needs no gradient.
 */
export function gradInto(t: Tensor, write: (dst: Tensor, accumulate: boolean) => void): void {
  if (!t.requiresGrad) return;
  const root = t.root;
  if (root.grad) {
    write(t.grad!, true);
    return;
  }
  root.grad = tempTensor(root.gpu, root.shape, `${root.name}.grad`);
  tapeGrads.add(root.grad);
  write(t.grad!, false);
}

/**
 * For a rule whose contribution to t is its output's gradient g unchanged (a residual add), made
 * as the rule's last act: where t has no gradient yet and g is a step buffer of the same size, t
 * takes g's buffer itself (no copy, no dispatch), and g is not returned to the pool after this
 * node; otherwise the contribution is added as gradInto would (`copy`). Safe because only this
 * node reads its output's gradient, and it reads it no more.
 */
export function passGradInto(t: Tensor, g: Tensor, copy: (dst: Tensor, accumulate: boolean) => void): void {
  if (!t.requiresGrad) return;
  const root = t.root;
  if (root.grad || !tapeGrads.has(g) || g.size !== root.size) {
    gradInto(t, copy);
    return;
  }
  tapeGrads.delete(g);
  root.grad = new Tensor(root.gpu, root.shape, g.storage, false, `${root.name}.grad`);
  tapeGrads.add(root.grad);
}

/** A gradient buffer that exists and holds zeros, for kernels that can only accumulate. */
export function zeroedGrad(t: Tensor): Tensor {
  const root = t.root;
  if (!root.grad) {
    root.grad = tempTensor(root.gpu, root.shape, `${root.name}.grad`);
    tapeGrads.add(root.grad);
    root.gpu.clear(root.grad.storage);
  }
  return t.grad!;
}

/**
 * Backpropagates from a scalar: seeds d(loss)/d(loss) = seed (1, or a loss scale; a one-element
 * Storage seed is copied on the GPU: the f16 path's dynamic scale) and runs the tape in reverse.
 */
export function backward(loss: Tensor, seed: number | Storage = 1): void {
  if (loss.size !== 1) throw new Error(`backward needs a scalar loss, got shape [${loss.shape}]`);
  const ones = tempTensor(loss.gpu, [1], 'dloss');
  if (typeof seed === 'number') loss.gpu.run('elementwise', 'fill', { n: 1, alpha: seed, accumulate: 0 }, { dst: ones.storage }, [1]);
  else loss.gpu.copy(seed, ones.storage, 1);
  backwardFrom(loss, ones);
}

/** Backpropagates a given gradient of `output` (a vector-Jacobian product) through the tape. */
export function backwardFrom(output: Tensor, grad: Tensor): void {
  if (!output.requiresGrad) throw new Error('backward called on a tensor that depends on no parameter (was it computed under noGrad?)');
  if (grad.size !== output.size) throw new Error(`backwardFrom: gradient of ${grad.size} values for [${output.shape}]`);
  output.grad = grad;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const g = node.output.grad;
    if (!g) continue;
    node.backward(g);
    // Only this node reads its output's gradient (every op makes a fresh output), so the buffer
    // can serve later gradients of the same size: the step holds about one set of activation
    // gradients at a time instead of all of them.
    if (!node.output.base && tapeGrads.has(g)) {
      tapeGrads.delete(g);
      node.output.grad = undefined;
      g.gpu.release(g.storage);
    }
  }
  clearTape();
}

/** Drops the recorded graph (after backward, or after a forward that will not be differentiated). */
export function clearTape(): void {
  for (const n of nodes) n.output.grad = undefined;
  nodes = [];
}

export function tapeLength(): number {
  return nodes.length;
}
