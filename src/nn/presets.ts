/**
 * Named ViT sizes. All take 32×32 RGB images and predict 10 classes.
 *   test  — tiny, for tests on software adapters
 *   peer  — the model the peers were measured with (shared/docs/peers.md: 142,026 parameters)
 *   small — the playground's default
 *   base  — DeiT-Tiny width (192, 12 blocks, 3 heads, MLP 768), the largest a browser should try
 */
export interface VitConfig {
  imageSize: number;
  channels: number;
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpDim: number;
  classes: number;
}

const cifar = { imageSize: 32, channels: 3, classes: 10 };

export const PRESETS = {
  test: { ...cifar, patch: 8, dim: 32, depth: 2, heads: 2, mlpDim: 64 },
  peer: { ...cifar, patch: 4, dim: 64, depth: 4, heads: 4, mlpDim: 128 },
  small: { ...cifar, patch: 4, dim: 128, depth: 6, heads: 4, mlpDim: 256 },
  base: { ...cifar, patch: 4, dim: 192, depth: 12, heads: 3, mlpDim: 768 },
} satisfies Record<string, VitConfig>;

export type PresetName = keyof typeof PRESETS;

export function preset(name: string): VitConfig {
  const p = (PRESETS as Record<string, VitConfig>)[name];
  if (!p) throw new Error(`unknown model preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return p;
}

export function tokensOf(c: VitConfig): number {
  return (c.imageSize / c.patch) ** 2 + 1;
}
