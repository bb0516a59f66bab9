/**
 * Opening a GPUDevice, the same way in the browser (navigator.gpu) and in Node (the `webgpu`
 * package, see ./node.ts): ask for the adapter's own limits, not the defaults, and the optional
 * features labelflow can use.
 */

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** Limits that decide which models fit; requested at the adapter's maximum. */
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[];

export class NoWebGPUError extends Error {}

export async function openDevice(gpu: GPU | undefined, powerPreference: GPUPowerPreference = 'high-performance') {
  if (!gpu) throw new NoWebGPUError('WebGPU is not available here (navigator.gpu is undefined).');
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new NoWebGPUError('WebGPU is present but no adapter was found (requestAdapter returned null).');
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = (adapter.limits as unknown as Record<string, number>)[name];
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return { device, report: describeAdapter(adapter, device) };
}

function describeAdapter(adapter: GPUAdapter, device: GPUDevice): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  limits.minStorageBufferOffsetAlignment = device.limits.minStorageBufferOffsetAlignment;
  limits.minUniformBufferOffsetAlignment = device.limits.minUniformBufferOffsetAlignment;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: (info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter ?? false,
    features: [...device.features].sort(),
    limits,
  };
}

/** One line for logs and tables: "vendor architecture (description)". */
export function adapterName(r: AdapterReport): string {
  const parts = [r.vendor, r.architecture, r.device].filter(Boolean).join(' ');
  return r.description ? `${parts} (${r.description})`.trim() : parts || 'unknown adapter';
}
