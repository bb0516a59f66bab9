// Included (// @include subgroup_reduce) by the @subgroups regions of softmax.wgsl and
// cross_entropy.wgsl; src/gpu/kernels.ts appends it to the including file, which declares WG.

const SUM: u32 = 0u;
const MAX: u32 = 1u;
const MIN: u32 = 2u;

// Which invocations form a subgroup is up to the implementation (sizes 4..128, the last one may be
// partial), so a subgroup is named by its lowest local index: its result is stored there and a
// bit marks it in `leaders`. Every invocation then combines the marked results in index order,
// so the whole workgroup gets the same value, the same on every run. (`leaders` starts zeroed, as
// all workgroup memory; later calls set the same bits again: subgroups stay fixed in a dispatch.)
var<workgroup> leaders: array<atomic<u32>, (WG + 31u) / 32u>;
var<workgroup> partials: array<vec2<f32>, WG>;

/** The workgroup's SUM, MAX or MIN of each thread's v, for every thread. Uniform control flow only. */
fn workgroup_reduce2(v: vec2<f32>, lid: u32, op: u32) -> vec2<f32> {
  var s: vec2<f32>;
  switch op {
    case MAX: { s = subgroupMax(v); }
    case MIN: { s = subgroupMin(v); }
    default: { s = subgroupAdd(v); }
  }
  let leader = subgroupMin(lid);
  if (lid == leader) {
    partials[leader] = s;
    atomicOr(&leaders[leader / 32u], 1u << (leader % 32u));
  }
  workgroupBarrier();
  var total = partials[0]; // invocation 0 always leads its subgroup
  for (var w = 0u; w < (WG + 31u) / 32u; w++) {
    var bits = atomicLoad(&leaders[w]);
    if (w == 0u) { bits &= ~1u; }
    for (; bits != 0u; bits &= bits - 1u) {
      let x = partials[32u * w + firstTrailingBit(bits)];
      switch op {
        case MAX: { total = max(total, x); }
        case MIN: { total = min(total, x); }
        default: { total += x; }
      }
    }
  }
  workgroupBarrier(); // partials is reused by the next call
  return total;
}
