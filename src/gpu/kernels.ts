/**
 * The kernel registry: every WGSL file of shaders/ compiled once per device (and per subgroup
 * variant), a compute pipeline per (file, entry point, override constants), and each file's
 * `struct Params` parsed so that uniforms are packed by field name, never by a hand count of bytes.
 */
import attention from '../../shaders/attention.wgsl';
import augment from '../../shaders/augment.wgsl';
import crossEntropy from '../../shaders/cross_entropy.wgsl';
import diversity from '../../shaders/diversity.wgsl';
import elementwise from '../../shaders/elementwise.wgsl';
import gelu from '../../shaders/gelu.wgsl';
import labels from '../../shaders/labels.wgsl';
import layernorm from '../../shaders/layernorm.wgsl';
import matmul from '../../shaders/matmul.wgsl';
import optimizer from '../../shaders/optimizer.wgsl';
import patch from '../../shaders/patch.wgsl';
import reduce from '../../shaders/reduce.wgsl';
import softmax from '../../shaders/softmax.wgsl';
import subgroupReduce from '../../shaders/subgroup_reduce.wgsl';
import tokens from '../../shaders/tokens.wgsl';

export const SHADER_SOURCES = {
  attention, augment, cross_entropy: crossEntropy, diversity, elementwise, gelu, labels, layernorm, matmul, optimizer, patch, reduce, softmax, tokens,
} as const;
export type ShaderFile = keyof typeof SHADER_SOURCES;

/** WGSL shared by several files (no entry points of its own): `// @include name` appends it. */
export const SHADER_INCLUDES: Record<string, string> = { subgroup_reduce: subgroupReduce };

type FieldType = 'u32' | 'i32' | 'f32';
export interface ParamsLayout { fields: { name: string; type: FieldType }[]; bytes: number }

/** Reads `struct Params { a: u32, b: f32, }` from a WGSL source: scalar fields only, 4 bytes each. */
export function parseParams(source: string, file: string): ParamsLayout | undefined {
  const m = /struct\s+Params\s*\{([^}]*)\}/.exec(source);
  if (!m) return undefined;
  const fields = m[1]
    .split(/[,\n]/)
    .map((s) => s.replace(/\/\/.*$/, '').trim())
    .filter(Boolean)
    .map((decl) => {
      const f = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(decl);
      if (!f) throw new Error(`shaders/${file}.wgsl: struct Params field "${decl}" is not a u32/i32/f32 scalar`);
      return { name: f[1], type: f[2] as FieldType };
    });
  return { fields, bytes: Math.max(16, Math.ceil((fields.length * 4) / 16) * 16) };
}

/**
 * A file's subgroup variant. WGSL has no preprocessor, and a module calling subgroupAdd without
 * `enable subgroups;` does not compile on a device lacking the feature, so a file marks lines:
 *
 *   // @subgroups     kept only when subgroups are used (then `enable subgroups;` is prepended)
 *   // @else          optional: kept only when they are not
 *   // @end
 *
 *   // @include name  a kept line: SHADER_INCLUDES[name] is appended to the module once
 *
 * and a file whose operands may be f16 declares their element type as an alias, one per line:
 *
 *   alias A_T = f32;  with A_T in `half`, becomes `alias A_T = f16;` (and `enable f16;` is prepended)
 *
 * Dropped lines and the markers become empty lines, the directive goes at the start of the first
 * line, and included text goes after the last, so compiler messages keep the file's own line
 * numbers (a line past the file's end is in an included file).
 */
export function shaderVariant(source: string, subgroups: boolean, file: string, half: HalfAliases = []): string {
  let region: 'all' | 'subgroups' | 'else' = 'all';
  let marked = false;
  const includes = new Set<string>();
  const lines = source.split('\n').map((line, i) => {
    const marker = /^\s*\/\/\s*@(subgroups|else|end)\b/.exec(line)?.[1];
    const at = `shaders/${file}.wgsl:${i + 1}`;
    const include = /^\s*\/\/\s*@include\s+(\w+)/.exec(line)?.[1];
    if (include && !(include in SHADER_INCLUDES)) throw new Error(`${at}: @include of unknown "${include}" (known: ${Object.keys(SHADER_INCLUDES).join(', ')})`);
    if (marker === 'subgroups') {
      if (region !== 'all') throw new Error(`${at}: @subgroups inside another region`);
      region = 'subgroups';
      marked = true;
    } else if (marker === 'else') {
      if (region !== 'subgroups') throw new Error(`${at}: @else without @subgroups`);
      region = 'else';
    } else if (marker === 'end') {
      if (region === 'all') throw new Error(`${at}: @end without @subgroups`);
      region = 'all';
    }
    const kept = region === 'all' || (region === 'subgroups') === subgroups;
    if (include && kept) includes.add(include);
    return marker || !kept ? '' : line;
  });
  if (region !== 'all') throw new Error(`shaders/${file}.wgsl: @subgroups region not closed by @end`);
  for (const name of half) {
    const at = lines.findIndex((line) => new RegExp(`^alias\\s+${name}\\s*=\\s*f32\\s*;`).test(line));
    if (at < 0) throw new Error(`shaders/${file}.wgsl: no line "alias ${name} = f32;" to compile as f16`);
    lines[at] = lines[at].replace('f32', 'f16');
  }
  const appended = [...includes].map((name) => `\n// ---- shaders/${name}.wgsl (@include)\n${SHADER_INCLUDES[name]}`);
  return (half.length ? 'enable f16; ' : '') + (subgroups && marked ? 'enable subgroups; ' : '') + lines.join('\n') + appended.join('');
}

export type Constants = Record<string, number>;
/** Names of a file's `alias X = f32;` lines compiled as f16 instead (sorted, for stable keys). */
export type HalfAliases = readonly string[];

export interface Kernel {
  file: ShaderFile;
  entry: string;
  pipeline: GPUComputePipeline;
  params?: ParamsLayout;
}

export class KernelRegistry {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, Kernel>();
  private layouts = new Map<ShaderFile, ParamsLayout | undefined>();
  private useSubgroups: boolean;

  constructor(private device: GPUDevice) {
    this.useSubgroups = device.features.has('subgroups');
  }

  /**
   * Whether modules are built with their @subgroups regions: on when the device has the feature.
   * Turning it off gives the workgroup-memory path on the same device (tests compare both).
   */
  get subgroups(): boolean {
    return this.useSubgroups;
  }

  set subgroups(on: boolean) {
    if (on && !this.device.features.has('subgroups')) throw new Error('subgroups: the device was created without the \'subgroups\' feature');
    this.useSubgroups = on;
  }

  /** The WGSL text compiled for `file` in the current variant (with `half`'s aliases as f16). */
  source(file: ShaderFile, half: HalfAliases = []): string {
    return shaderVariant(SHADER_SOURCES[file], this.useSubgroups, file, half);
  }

  /** `file`, `file+subgroups`, `file+f16(A_T,B_T)`: names a module and prefixes its pipelines' keys and labels. */
  private variantOf(file: ShaderFile, half: HalfAliases = []): string {
    return `${file}${this.useSubgroups ? '+subgroups' : ''}${half.length ? `+f16(${half.join(',')})` : ''}`;
  }

  get(file: ShaderFile, entry: string, constants: Constants = {}, half: HalfAliases = []): Kernel {
    const key = `${this.variantOf(file, half)}:${entry}:${JSON.stringify(constants)}`;
    let kernel = this.pipelines.get(key);
    if (!kernel) {
      if (half.length && !this.device.features.has('shader-f16')) {
        throw new Error(`shaders/${file}.wgsl:${entry} with f16 operands (${half.join(', ')}) needs the 'shader-f16' feature, which this device lacks`);
      }
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module: this.module(file, half), entryPoint: entry, constants },
      });
      kernel = { file, entry, pipeline, params: this.paramsOf(file) };
      this.pipelines.set(key, kernel);
    }
    return kernel;
  }

  paramsOf(file: ShaderFile): ParamsLayout | undefined {
    if (!this.layouts.has(file)) this.layouts.set(file, parseParams(SHADER_SOURCES[file], file));
    return this.layouts.get(file);
  }

  get compiledPipelines(): number {
    return this.pipelines.size;
  }

  private module(file: ShaderFile, half: HalfAliases = []): GPUShaderModule {
    const variant = this.variantOf(file, half);
    let m = this.modules.get(variant);
    if (!m) {
      m = this.device.createShaderModule({ label: `shaders/${variant}.wgsl`, code: this.source(file, half) });
      this.modules.set(variant, m);
    }
    return m;
  }

  /** Compiles every shader file (current variant) and throws with file:line:column on the first WGSL error. */
  async checkAll(): Promise<void> {
    for (const file of Object.keys(SHADER_SOURCES) as ShaderFile[]) {
      const info = await this.module(file).getCompilationInfo();
      const errors = info.messages.filter((msg) => msg.type === 'error');
      if (errors.length) {
        const lines = errors.map((e) => `shaders/${file}.wgsl:${e.lineNum}:${e.linePos}: ${e.message}`);
        throw new Error(`WGSL compilation failed:\n${lines.join('\n')}`);
      }
    }
  }
}
