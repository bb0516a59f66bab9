/**
 * The run configuration in the page's URL, so that a link reproduces a run. One table, FIELDS,
 * maps each query key to its RunConfig field and type; configToQuery writes every key in that
 * order (defaults included, so a later change of a default does not change what an old link
 * means), configFromQuery reads them back, checks each value (its type, then resolveConfig of
 * src/train/trainer.ts) and keeps the fallback's value, with a note in `errors`, for a bad one.
 *
 *   ?dataset=synthetic&model=small&method=tl-align&lr=0.001&…&augment=1&precision=f32&train=all&test=all
 *    &tokenmix_mask=blocks&tokenmix_share=…&tokenmix_loss=bce&token_weight=1&token_gt=0
 *    &div_cosine=1&div_contrastive=1&div_mixing=1&div_window=0
 *
 * The method options (src/methods/method.ts MethodOptions) are written for every method, like
 * the rest, so a link keeps them when its method is changed in the page. A teacher (an ONNX
 * file) cannot travel in a link: it is picked in the page.
 *
 * `hub_url`, the base URL of dataset `hub` (CIFAR-10's parquet files), is written right after
 * `dataset` and only when set: a link without it means the Hugging Face Hub's own copy, wherever
 * that is when the link is opened.
 *
 * Model overrides (dim, depth, heads, patch, mlp) are written only when set; `train` and `test`
 * (the subset limits) are written always, `all` meaning the whole split. A key the query does
 * not have keeps the fallback's value, except that the model is read as a whole: a query with
 * `model` or any override key has exactly the overrides it lists.
 */
import { hubFolderUrl } from '../data/hub-parquet.ts';
import { type VitConfig } from '../nn/presets.ts';
import { type DatasetKind, type RunConfig } from '../train/protocol.ts';
import { resolveConfig, type TrainConfig } from '../train/trainer.ts';

const DATASETS: readonly DatasetKind[] = ['synthetic', 'cifar10', 'file', 'hub'];
const HUB_URL_KEY = 'hub_url';

type ValueType = 'number' | 'integer' | 'boolean' | 'text' | 'dataset' | 'limit';

interface Field {
  key: string;
  field: keyof RunConfig;
  type: ValueType;
}

const FIELDS: readonly Field[] = [
  { key: 'dataset', field: 'dataset', type: 'dataset' },
  { key: 'model', field: 'model', type: 'text' },
  { key: 'method', field: 'method', type: 'text' },
  { key: 'lr', field: 'lr', type: 'number' },
  { key: 'min_lr', field: 'minLr', type: 'number' },
  { key: 'warmup', field: 'warmupEpochs', type: 'number' },
  { key: 'wd', field: 'weightDecay', type: 'number' },
  { key: 'epochs', field: 'epochs', type: 'integer' },
  { key: 'batch', field: 'batch', type: 'integer' },
  { key: 'mixup', field: 'mixupAlpha', type: 'number' },
  { key: 'cutmix', field: 'cutmixAlpha', type: 'number' },
  { key: 'switch', field: 'mixupSwitchProb', type: 'number' },
  { key: 'smoothing', field: 'smoothing', type: 'number' },
  { key: 'clip', field: 'clip', type: 'number' },
  { key: 'seed', field: 'seed', type: 'integer' },
  { key: 'augment', field: 'augment', type: 'boolean' },
  { key: 'precision', field: 'precision', type: 'text' },
  { key: 'train', field: 'trainLimit', type: 'limit' },
  { key: 'test', field: 'testLimit', type: 'limit' },
  // Method options (checked by resolveConfig: the choices, ranges, an odd window).
  { key: 'tokenmix_mask', field: 'tokenmixMask', type: 'text' },
  { key: 'tokenmix_share', field: 'tokenmixShare', type: 'number' },
  { key: 'tokenmix_loss', field: 'tokenmixLoss', type: 'text' },
  { key: 'token_weight', field: 'tokenLabelWeight', type: 'number' },
  { key: 'token_gt', field: 'tokenLabelGtWeight', type: 'number' },
  { key: 'div_cosine', field: 'diversityCosine', type: 'number' },
  { key: 'div_contrastive', field: 'diversityContrastive', type: 'number' },
  { key: 'div_mixing', field: 'diversityMixing', type: 'number' },
  { key: 'div_window', field: 'diversityWindow', type: 'integer' },
];

/** The model overrides, written right after `model`. */
const OVERRIDES: readonly { key: string; field: keyof VitConfig }[] = [
  { key: 'dim', field: 'dim' },
  { key: 'depth', field: 'depth' },
  { key: 'heads', field: 'heads' },
  { key: 'patch', field: 'patch' },
  { key: 'mlp', field: 'mlpDim' },
];

const MODEL_KEYS = new Set(['model', ...OVERRIDES.map((o) => o.key)]);

export function configToQuery(c: RunConfig): string {
  const q = new URLSearchParams();
  for (const f of FIELDS) {
    q.set(f.key, formatValue(c[f.field], f.type));
    if (f.key === 'dataset' && c.hubUrl !== undefined) q.set(HUB_URL_KEY, c.hubUrl);
    if (f.key === 'model') {
      for (const o of OVERRIDES) {
        const v = c.modelOverrides?.[o.field];
        if (v !== undefined) q.set(o.key, String(v));
      }
    }
  }
  return q.toString();
}

function formatValue(v: unknown, type: ValueType): string {
  if (type === 'boolean') return v ? '1' : '0';
  if (type === 'limit') return v === undefined ? 'all' : String(v);
  return String(v);
}

/** `query` may start with '?' or '#'. */
export function configFromQuery(query: string, fallback: RunConfig): { config: RunConfig; errors: string[] } {
  const q = new URLSearchParams(query.replace(/^[?#]/, ''));
  const errors: string[] = [];
  const known = new Set([...FIELDS.map((f) => f.key), ...MODEL_KEYS, HUB_URL_KEY]);
  for (const key of new Set(q.keys())) if (!known.has(key)) errors.push(`${key}: unknown setting (ignored)`);

  let config: RunConfig = { ...fallback };
  if ([...MODEL_KEYS].some((k) => q.has(k))) delete config.modelOverrides;
  for (const f of FIELDS) {
    const raw = q.get(f.key);
    if (raw === null) continue;
    const parsed = parseValue(raw, f.type);
    if (typeof parsed === 'string') errors.push(`${f.key}: ${JSON.stringify(raw)} ${parsed}`);
    else config = tryChange(config, { [f.field]: parsed.value }, f.key, errors);
  }
  const hubUrl = q.get(HUB_URL_KEY);
  if (hubUrl !== null) {
    const problem = hubUrlProblem(hubUrl);
    if (problem) errors.push(`${HUB_URL_KEY}: ${problem}`);
    else config = { ...config, hubUrl };
  }
  for (const o of OVERRIDES) {
    const raw = q.get(o.key);
    if (raw === null) continue;
    const parsed = parseValue(raw, 'integer');
    if (typeof parsed === 'string') errors.push(`${o.key}: ${JSON.stringify(raw)} ${parsed}`);
    else config = tryChange(config, { modelOverrides: { ...config.modelOverrides, [o.field]: parsed.value } }, o.key, errors);
  }
  return { config, errors };
}

/**
 * `config` with `change` when the result passes resolveConfig; otherwise `config`, and a note in
 * `errors`. A field changed to undefined (a limit of "all") is removed, not kept as undefined.
 */
function tryChange(config: RunConfig, change: Partial<RunConfig>, key: string, errors: string[]): RunConfig {
  const next = { ...config, ...change };
  for (const [field, value] of Object.entries(change)) if (value === undefined) delete next[field as keyof RunConfig];
  try {
    resolveConfig(trainPart(next));
    checkLimit(next.trainLimit);
    checkLimit(next.testLimit);
    return next;
  } catch (e) {
    errors.push(`${key}: ${(e as Error).message}`);
    return config;
  }
}

function trainPart({ dataset: _dataset, hubUrl: _hubUrl, trainLimit: _train, testLimit: _test, ...train }: RunConfig): TrainConfig {
  return train;
}

/** Why `config` cannot be trained (the check a link's values pass), or undefined when it can. */
export function configProblem(config: RunConfig): string | undefined {
  try {
    resolveConfig(trainPart(config));
    checkLimit(config.trainLimit);
    checkLimit(config.testLimit);
  } catch (e) {
    return (e as Error).message;
  }
  return config.dataset === 'hub' && config.hubUrl !== undefined ? hubUrlProblem(config.hubUrl) : undefined;
}

/** Why `url` cannot be the base URL of dataset `hub`, or undefined when it can. */
function hubUrlProblem(url: string): string | undefined {
  try {
    hubFolderUrl(url);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`a subset limit must be a positive integer or "all", got ${limit}`);
}

/** The value, or why `raw` is not one (completing "<key>: "<raw>" …"). */
function parseValue(raw: string, type: ValueType): { value: unknown } | string {
  switch (type) {
    case 'text':
      return { value: raw };
    case 'dataset':
      return (DATASETS as readonly string[]).includes(raw) ? { value: raw } : `is not a dataset (${DATASETS.join(', ')})`;
    case 'boolean':
      if (raw === '1' || raw === 'true') return { value: true };
      if (raw === '0' || raw === 'false') return { value: false };
      return 'is not 1 or 0';
    case 'limit':
      if (raw === 'all') return { value: undefined };
      return parseNumber(raw, true, 'a number or "all"');
    case 'number':
      return parseNumber(raw, false, 'a number');
    case 'integer':
      return parseNumber(raw, true, 'a number');
  }
}

function parseNumber(raw: string, integer: boolean, what: string): { value: number } | string {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n)) return `is not ${what}`;
  if (integer && !Number.isInteger(n)) return 'is not a whole number';
  return { value: n };
}
