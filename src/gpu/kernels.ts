/**
 * The kernel registry: every WGSL file of shaders/ compiled once per device, a compute pipeline
 * per (file, entry point, override constants), and each file's `struct Params` parsed so that
 * uniforms are packed by field name, never by a hand count of bytes.
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
import tokens from '../../shaders/tokens.wgsl';

export const SHADER_SOURCES = {
  attention, augment, cross_entropy: crossEntropy, diversity, elementwise, gelu, labels, layernorm, matmul, optimizer, patch, reduce, softmax, tokens,
} as const;
export type ShaderFile = keyof typeof SHADER_SOURCES;

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

export type Constants = Record<string, number>;

export interface Kernel {
  file: ShaderFile;
  entry: string;
  pipeline: GPUComputePipeline;
  params?: ParamsLayout;
}

export class KernelRegistry {
  private modules = new Map<ShaderFile, GPUShaderModule>();
  private pipelines = new Map<string, Kernel>();
  private layouts = new Map<ShaderFile, ParamsLayout | undefined>();

  constructor(private device: GPUDevice) {}

  get(file: ShaderFile, entry: string, constants: Constants = {}): Kernel {
    const key = `${file}:${entry}:${JSON.stringify(constants)}`;
    let kernel = this.pipelines.get(key);
    if (!kernel) {
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module: this.module(file), entryPoint: entry, constants },
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

  private module(file: ShaderFile): GPUShaderModule {
    let m = this.modules.get(file);
    if (!m) {
      m = this.device.createShaderModule({ label: `shaders/${file}.wgsl`, code: SHADER_SOURCES[file] });
      this.modules.set(file, m);
    }
    return m;
  }

  /** Compiles every shader file and throws with file:line:column on the first WGSL error. */
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
