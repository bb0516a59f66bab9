/** `npm run presets`: the model presets as a Markdown table (the README's table comes from here). */
import { PRESETS, tokensOf } from '../nn/presets.ts';
import { vitParamSpecs } from '../nn/vit.ts';

const rows = Object.entries(PRESETS).map(([name, c]) => {
  const params = vitParamSpecs(c, 0).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  return `| \`${name}\` | ${c.patch} | ${tokensOf(c)} | ${c.dim} | ${c.depth} | ${c.heads} | ${c.mlpDim} | ${params.toLocaleString('en-US')} |`;
});
console.log(['| preset | patch | tokens | dim | depth | heads | MLP | parameters |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n'));
