/**
 * The GPU context every op runs through: buffers (a pool, so a training step allocates nothing
 * after its first), the kernel registry, the one open command encoder of the current step, a
 * uniform arena written once per submit, read-backs, and per-kernel timing with timestamp-query.
 */
import { type AdapterReport } from './device.ts';
import { unpackHalf } from './half.ts';
import { type Constants, type HalfAliases, type Kernel, KernelRegistry, SHADER_SOURCES, type ShaderFile } from './kernels.ts';

/** A range of f32 elements (f16 with dtype 'f16') inside a GPUBuffer. Offsets are multiples of 256 bytes. */
export interface Storage {
  buffer: GPUBuffer;
  offset: number; // bytes
  elements: number;
  /** Absent: f32. 'f16': the range holds `elements` halves (shader-f16). */
  dtype?: 'f16';
}

/** Bytes per element of a storage range. */
export function elementBytes(s: Pick<Storage, 'dtype'>): number {
  return s.dtype === 'f16' ? 2 : 4;
}

export const STORAGE_ALIGN_BYTES = 256;
const UNIFORM_CHUNK_BYTES = 64 * 1024;
/** Beyond this many the cache starts again (keys of destroyed buffers are never hit again). */
const MAX_CACHED_BIND_GROUPS = 8192;
const MAX_TIMED_PASSES = 2048;
/** Workgroups per grid dimension: the WebGPU default limit, so grids fit every adapter. */
export const MAX_GROUPS_PER_DIM = 65535;

type ParamValues = Record<string, number | boolean>;

export interface KernelTiming { label: string; ms: number }

interface PendingRead { source: Storage; staging: GPUBuffer; resolve: (a: Float32Array) => void; reject: (e: Error) => void }

export class Gpu {
  readonly kernels: KernelRegistry;
  /** Every GPUBuffer this context ever created (tests assert it stays flat after the first step). */
  buffersCreated = 0;
  /** Bytes of every GPUBuffer this context created (never freed: the pools keep them). */
  bytesCreated = 0;
  submits = 0;
  /** Validation and out-of-memory errors reported by the device; flush() throws on the first. */
  readonly errors: string[] = [];
  lost?: string;

  private free = new Map<number, GPUBuffer[]>();
  /** Ids of buffers and kernels (never reused), for the bind group cache's keys. */
  private ids = new WeakMap<object, number>();
  private nextId = 1;
  /**
   * Bind groups by kernel and bound ranges. Buffers are reused across steps and handed out in the
   * same order each step (endStep), so from the second step on, a step creates no bind group:
   * createBindGroup was about 60% of the CPU time of a dispatch (Dawn, Node).
   */
  private bindGroups = new Map<string, GPUBindGroup>();
  bindGroupsCreated = 0;
  dispatches = 0;
  private stepBuffers = new Set<GPUBuffer>();
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private uniformChunks: { buffer: GPUBuffer; data: ArrayBuffer }[] = [];
  private uniformSlot = 0;
  private readonly uniformStride: number;
  private reads: PendingRead[] = [];
  private bindingNames = new Map<ShaderFile, Map<string, number>>();

  private timing?: { querySet: GPUQuerySet; resolve: GPUBuffer; labels: string[]; results: KernelTiming[][] };

  constructor(readonly device: GPUDevice, readonly adapter: AdapterReport) {
    this.kernels = new KernelRegistry(device);
    this.uniformStride = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    device.addEventListener('uncapturederror', (ev) => {
      this.errors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => { this.lost = `${info.reason}: ${info.message}`; });
  }

  get hasTimestamps(): boolean {
    return this.device.features.has('timestamp-query');
  }

  /** The device has 'subgroups'; whether kernels use them is `kernels.subgroups` (tests turn it off). */
  get hasSubgroups(): boolean {
    return this.device.features.has('subgroups');
  }

  // ---------------------------------------------------------------- buffers

  createBuffer(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    this.buffersCreated++;
    this.bytesCreated += Math.max(4, bytes);
    return this.device.createBuffer({ size: Math.max(4, bytes), usage, label });
  }

  /** A buffer that lives until destroyed: parameters, optimizer state, datasets. */
  persistent(elements: number, label: string, dtype?: 'f16'): Storage {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    return { buffer: this.createBuffer(alignBytes(elements * elementBytes({ dtype })), usage, label), offset: 0, elements, ...(dtype ? { dtype } : {}) };
  }

  /**
   * A read-only constant, filled at creation (mapped, so no queue write: safe in the middle of a
   * step's encoding). The caller keeps it.
   */
  constant(data: Float32Array | Uint32Array, label: string): Storage {
    const bytes = alignBytes(data.length * 4);
    this.buffersCreated++;
    this.bytesCreated += Math.max(4, bytes);
    const buffer = this.device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label, mappedAtCreation: true });
    new Uint32Array(buffer.getMappedRange()).set(new Uint32Array(data.buffer, data.byteOffset, data.length));
    buffer.unmap();
    return { buffer, offset: 0, elements: data.length };
  }

  /** A buffer for the current step only; it returns to the pool at endStep(). */
  temp(elements: number, dtype?: 'f16'): Storage {
    const bytes = alignBytes(elements * elementBytes({ dtype }));
    const list = this.free.get(bytes);
    const buffer = list?.pop() ??
      this.createBuffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `temp ${bytes}B`);
    this.stepBuffers.add(buffer);
    return { buffer, offset: 0, elements, ...(dtype ? { dtype } : {}) };
  }

  /**
   * Hands a temp() buffer back to the pool before the step ends, once no command recorded from
   * now on reads it: a later temp() of the same size in this step may reuse it. Safe because
   * commands run in the order they are recorded (the backward frees gradients it has consumed).
   */
  release(s: Storage): void {
    if (!this.stepBuffers.delete(s.buffer)) throw new Error(`release: ${s.buffer.label} is not a temporary buffer of this step`);
    this.pool(s.buffer);
  }

  private pool(b: GPUBuffer): void {
    const list = this.free.get(b.size);
    if (list) list.push(b);
    else this.free.set(b.size, [b]);
  }

  /** Uploads at queue time: pending commands are submitted first so they never see the new data. */
  write(dst: Storage, data: Float32Array | Uint32Array | Int32Array | Uint16Array, elementOffset = 0): void {
    if (this.encoder) this.flush();
    if (data instanceof Uint16Array && data.length % 2) data = Uint16Array.from([...data, 0]); // writeBuffer moves whole 4-byte words
    this.device.queue.writeBuffer(dst.buffer, dst.offset + elementOffset * elementBytes(dst), data.buffer, data.byteOffset, data.byteLength);
  }

  // ---------------------------------------------------------------- commands

  private currentEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /**
   * Records one dispatch: `kernel(file, entry)` with named uniforms and named storage bindings;
   * `half` names the file's type aliases compiled as f16 (kernels.ts: shaderVariant).
   */
  run(
    file: ShaderFile,
    entry: string,
    params: ParamValues,
    bindings: Record<string, Storage>,
    groups: [number, number?, number?],
    constants: Constants = {},
    half: HalfAliases = [],
  ): void {
    const kernel = this.kernels.get(file, entry, constants, half);
    const entries: GPUBindGroupEntry[] = [];
    const names = this.bindingsOf(file);
    let key = `${this.idOf(kernel)}`;
    if (kernel.params) {
      const u = this.uniform(kernel, params);
      entries.push({ binding: names.get('p')!, resource: u });
      key += `|p${u.offset}:${this.idOf(u.buffer)}`;
    }
    for (const [name, s] of Object.entries(bindings)) {
      const binding = names.get(name);
      if (binding === undefined) throw new Error(`shaders/${file}.wgsl has no binding named "${name}" (entry ${entry})`);
      const size = alignBytes(s.elements * elementBytes(s), 4);
      entries.push({ binding, resource: { buffer: s.buffer, offset: s.offset, size } });
      key += `|${binding}:${this.idOf(s.buffer)}:${s.offset}:${size}`;
    }
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      bindGroup = this.device.createBindGroup({ layout: kernel.pipeline.getBindGroupLayout(0), entries, label: `${file}:${entry}` });
      this.bindGroupsCreated++;
      if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.clear();
      this.bindGroups.set(key, bindGroup);
    }
    const [x, y = 1, z = 1] = groups;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > MAX_GROUPS_PER_DIM || y > MAX_GROUPS_PER_DIM || z > MAX_GROUPS_PER_DIM) {
      throw new Error(`${file}:${entry}: grid ${x}×${y}×${z} exceeds ${MAX_GROUPS_PER_DIM} workgroups per dimension`);
    }
    let pass = this.pass;
    if (this.timing && this.timing.labels.length < MAX_TIMED_PASSES) {
      this.endPass();
      const i = this.timing.labels.length;
      this.timing.labels.push(`${file}:${entry}`);
      pass = this.currentEncoder().beginComputePass({
        timestampWrites: { querySet: this.timing.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      this.pass = pass;
    } else if (!pass) {
      pass = this.pass = this.currentEncoder().beginComputePass();
    }
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  copy(src: Storage, dst: Storage, elements = src.elements): void {
    this.endPass();
    if (elementBytes(src) !== elementBytes(dst)) throw new Error('copy: source and destination element types differ');
    this.currentEncoder().copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, elements * elementBytes(src));
  }

  clear(s: Storage): void {
    this.endPass();
    this.currentEncoder().clearBuffer(s.buffer, s.offset, alignBytes(s.elements * elementBytes(s), 4));
  }

  private uniform(kernel: Kernel, values: ParamValues): GPUBufferBinding {
    const layout = kernel.params!;
    const perChunk = Math.floor(UNIFORM_CHUNK_BYTES / this.uniformStride);
    const chunkIndex = Math.floor(this.uniformSlot / perChunk);
    if (chunkIndex === this.uniformChunks.length) {
      const buffer = this.createBuffer(UNIFORM_CHUNK_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'uniform arena');
      this.uniformChunks.push({ buffer, data: new ArrayBuffer(UNIFORM_CHUNK_BYTES) });
    }
    const chunk = this.uniformChunks[chunkIndex];
    const offset = (this.uniformSlot % perChunk) * this.uniformStride;
    this.uniformSlot++;
    const view = new DataView(chunk.data, offset, layout.bytes);
    for (const [i, f] of layout.fields.entries()) {
      const v = values[f.name];
      if (v === undefined) throw new Error(`shaders/${kernel.file}.wgsl:${kernel.entry}: uniform "${f.name}" not given`);
      const n = typeof v === 'boolean' ? Number(v) : v;
      if (f.type === 'f32') view.setFloat32(4 * i, n, true);
      else if (f.type === 'u32') view.setUint32(4 * i, n, true);
      else view.setInt32(4 * i, n, true);
    }
    for (const name of Object.keys(values)) {
      if (!layout.fields.some((f) => f.name === name)) throw new Error(`shaders/${kernel.file}.wgsl: Params has no field "${name}"`);
    }
    return { buffer: chunk.buffer, offset, size: layout.bytes };
  }

  private bindingsOf(file: ShaderFile): Map<string, number> {
    let m = this.bindingNames.get(file);
    if (!m) {
      m = new Map();
      const src = SHADER_SOURCES[file];
      for (const b of src.matchAll(/@binding\((\d+)\)\s*var(?:<[^>]*>)?\s+(\w+)/g)) m.set(b[2], Number(b[1]));
      this.bindingNames.set(file, m);
    }
    return m;
  }

  /** Schedules a copy of `source` for reading back after the next submit (f16 ranges come back widened to f32). */
  readback(source: Storage): Promise<Float32Array> {
    const bytes = alignBytes(source.elements * elementBytes(source), 4);
    const staging = this.takeStaging(bytes);
    this.endPass();
    this.currentEncoder().copyBufferToBuffer(source.buffer, source.offset, staging, 0, bytes);
    return new Promise((resolve, reject) => this.reads.push({ source, staging, resolve, reject }));
  }

  private stagingFree = new Map<number, GPUBuffer[]>();
  private takeStaging(bytes: number): GPUBuffer {
    return this.stagingFree.get(bytes)?.pop() ??
      this.createBuffer(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `readback ${bytes}B`);
  }

  /** Submits everything recorded so far as one command buffer (with its uniforms written first). */
  flush(): void {
    if (this.lost) throw new Error(`GPU device lost (${this.lost})`);
    if (this.errors.length) throw new Error(`GPU error: ${this.errors[0]}`);
    this.endPass();
    const timing = this.timing;
    const timed = timing ? timing.labels.splice(0) : [];
    if (timing && timed.length) {
      this.currentEncoder().resolveQuerySet(timing.querySet, 0, 2 * timed.length, timing.resolve, 0);
    }
    let timingRead: Promise<Float32Array> | undefined;
    if (timing && timed.length) {
      timingRead = this.readback({ buffer: timing.resolve, offset: 0, elements: 4 * timed.length });
      this.endPass();
    }
    if (!this.encoder) return;
    const perChunk = Math.floor(UNIFORM_CHUNK_BYTES / this.uniformStride);
    for (let c = 0; c * perChunk < this.uniformSlot; c++) {
      const used = Math.min(perChunk, this.uniformSlot - c * perChunk) * this.uniformStride;
      this.device.queue.writeBuffer(this.uniformChunks[c].buffer, 0, this.uniformChunks[c].data, 0, used);
    }
    this.uniformSlot = 0;
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.submits++;
    for (const r of this.reads.splice(0)) {
      r.staging.mapAsync(GPUMapMode.READ).then(
        () => {
          const raw = r.staging.getMappedRange().slice(0, r.source.elements * elementBytes(r.source));
          const out = r.source.dtype === 'f16' ? unpackHalf(new Uint16Array(raw)) : new Float32Array(raw);
          r.staging.unmap();
          const size = r.staging.size;
          if (!this.stagingFree.has(size)) this.stagingFree.set(size, []);
          this.stagingFree.get(size)!.push(r.staging);
          r.resolve(out);
        },
        (e: Error) => r.reject(new Error(`read-back failed: ${e.message}${this.lost ? ` (device lost: ${this.lost})` : ''}`)),
      );
    }
    if (timing && timingRead) {
      void timingRead.then((raw) => {
        const ticks = new BigUint64Array(raw.buffer);
        timing.results.push(timed.map((label, i) => ({ label, ms: Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6 })));
      });
    }
  }

  /**
   * Ends a step: submits it and hands its temporary buffers back to the pool, each size's free list
   * in one order (lowest id taken first), so that the same sequence of temp() calls gets the same
   * buffers every step.
   */
  endStep(): void {
    this.flush();
    for (const b of this.stepBuffers) this.pool(b);
    this.stepBuffers.clear();
    for (const list of this.free.values()) list.sort((x, y) => this.idOf(y) - this.idOf(x));
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  async read(s: Storage): Promise<Float32Array> {
    const p = this.readback(s);
    this.flush();
    return p;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.errors.length) throw new Error(`GPU error: ${this.errors[0]}`);
  }

  // ---------------------------------------------------------------- timing

  /** Times each dispatch from now on with timestamp-query, one compute pass per dispatch. */
  startTiming(): boolean {
    if (!this.hasTimestamps) return false;
    if (!this.timing) {
      const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_PASSES });
      const resolve = this.createBuffer(16 * MAX_TIMED_PASSES, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
      this.timing = { querySet, resolve, labels: [], results: [] };
    }
    return true;
  }

  /** Stops timing and returns per-kernel milliseconds of every submit since startTiming(). */
  async stopTiming(): Promise<KernelTiming[][]> {
    if (!this.timing) return [];
    await this.sync();
    await this.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 0));
    const results = this.timing.results.splice(0);
    this.timing = undefined;
    return results;
  }
}


export function alignBytes(bytes: number, align = STORAGE_ALIGN_BYTES): number {
  return Math.ceil(Math.max(bytes, 4) / align) * align;
}

/** A 1-D grid of `n` threads in workgroups of `wg`, folded into y when x would pass the limit. */
export function grid1d(n: number, wg: number): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= MAX_GROUPS_PER_DIM) return [groups, 1];
  return [MAX_GROUPS_PER_DIM, Math.ceil(groups / MAX_GROUPS_PER_DIM)];
}
