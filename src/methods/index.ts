/** The methods by name: the trainer, the CLI and the page look them up here. */
import { cutmix, mixupCutmix } from './cutmix.ts';
import { cutmixToken } from './cutmix-token.ts';
import { diversepatch, diversepatchPaper } from './diversepatch.ts';
import { tokenLabeling } from './token-labeling.ts';
import { tokenmix, tokenmixTeacher } from './tokenmix.ts';
import { type Method } from './method.ts';
import { mixup } from './mixup.ts';
import { none } from './none.ts';
import { tlAlign } from './tl-align.ts';

export const METHODS: readonly Method[] = [
  none, mixup, cutmix, cutmixToken, mixupCutmix, tlAlign, tokenmix, tokenmixTeacher, tokenLabeling, diversepatch, diversepatchPaper,
];
export const METHOD_NAMES = METHODS.map((m) => m.name);

export function methodByName(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new Error(`unknown method "${name}" (known: ${METHOD_NAMES.join(', ')})`);
  return m;
}

export type { BatchInputs, Method, MethodOptions, TargetInputs } from './method.ts';
export { DEFAULT_METHOD_OPTIONS } from './method.ts';
