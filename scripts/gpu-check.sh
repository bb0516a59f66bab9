#!/usr/bin/env bash
# Issue 6's real-GPU figures in one command, for a lent GPU machine (no network, no npm):
#   here:   npm run gpu:kit          (bundles + CIFAR-10 into .gpu-kit/, runtime into .gpu-runtime/)
#   there:  source .gpu-runtime/activate.sh && bash scripts/gpu-check.sh   (carry both folders)
# Writes into $OUT (or gpu-check-out/): gpu.txt, adapter.log, peers.json/.log, bench.json/.log, train.json/.log.
#   0. a probe of the adapter: the script stops there when Dawn finds none, or only a software one;
#   1. bench:peers on `small` and `base`, batch 128, matmul 256–2048 against the f32 peak;
#   2. npm run bench (labelflow's kernels, per-kernel GPU times, the split-K sweep of the weight
#      gradients; f32 and, with shader-f16, f16);
#   3. time to 80% CIFAR-10 test accuracy with `small`, stopping at 80% or at the time left.
# Every step has its own time limit, so one that hangs cannot take the others' time. The CLIs run
# through .gpu-kit/native-logs.mjs, which keeps the GPU stack's harmless native log lines out of
# the output as npm run does (LABELFLOW_NATIVE_LOGS=1 keeps them).
# GPU_CHECK_SECONDS (default 540): the whole budget. GPU_CHECK_QUICK=1: tiny shapes, for a
# software adapter (how the script is tested here). GPU_PEAK_GFLOPS overrides the table below;
# GPU_CHECK_EPOCHS and GPU_CHECK_METHOD (default none) set the training run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
budget=${GPU_CHECK_SECONDS:-540}
quick=${GPU_CHECK_QUICK:-}
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
cli=(node .gpu-kit/native-logs.mjs)
for f in train bench bench-peers native-logs; do
  [ -f ".gpu-kit/$f.mjs" ] || { echo "gpu-check: .gpu-kit/$f.mjs missing: run npm run gpu:kit here and carry .gpu-kit" >&2; exit 2; }
done

name=$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true) | head -1)
{
  nvidia-smi 2>&1 || echo "no nvidia-smi"; echo; node --version
  env | grep -E '^(VK_|LD_LIBRARY_PATH)' || true
  echo "Vulkan loaders:"; ldconfig -p 2>/dev/null | grep -i libvulkan || echo "  none in ldconfig"
  echo "Vulkan ICDs:"; ls -l /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
} > "$out/gpu.txt"
# FP32 (non-tensor) peaks from NVIDIA's datasheets, in GFLOP/s; WebGPU cannot report one.
case "$name" in
  *H100*PCIe*) peak=51200 ;;
  *H100*|*H200*) peak=66900 ;;
  *A100*) peak=19500 ;;
  *) peak= ;;
esac
peak=${GPU_PEAK_GFLOPS:-$peak}
echo "gpu-check: ${name:-no NVIDIA GPU named}; f32 peak ${peak:-unknown} GFLOP/s; budget ${budget} s"

run() { # run NAME SECONDS CMD...: output to $out/NAME.log and the terminal, killed after SECONDS; returns its exit status
  local name=$1 limit=$2; shift 2
  [ "$limit" -ge 30 ] || limit=30 # a spent budget still lets a step start and report
  echo "== $name (limit ${limit} s): $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start)) s in all"
  return "$rc"
}

# A probe first: without a GPU adapter, the rest would spend the budget measuring a software one.
if ! run adapter 60 "${cli[@]}" .gpu-kit/bench.mjs --adapter; then
  echo "gpu-check: no WebGPU adapter (see $out/adapter.log; Vulkan loaders and ICDs in $out/gpu.txt)" >&2
  exit 3
fi
if [ -z "$quick" ] && grep -q 'fallback/software' "$out/adapter.log"; then
  echo "gpu-check: Dawn found only a software adapter; stopping (GPU_CHECK_QUICK=1 runs on one; Vulkan loaders and ICDs in $out/gpu.txt)" >&2
  exit 3
fi

if [ -n "$quick" ]; then
  run peers 300 "${cli[@]}" .gpu-kit/bench-peers.mjs --quick --json "$out/peers.json"
  run bench 300 "${cli[@]}" .gpu-kit/bench.mjs --quick --json "$out/bench.json"
  run train "$(left)" "${cli[@]}" .gpu-kit/train.mjs --data .gpu-kit/cifar10-jpg.tar.gz --model test --train-limit 1000 --test-limit 500 \
    --epochs 2 --batch 64 --target-acc 20 --quiet --max-minutes 1 --out "$out/train.json"
  exit 0
fi

run peers 170 "${cli[@]}" .gpu-kit/bench-peers.mjs --presets small,base --batch 128 --sizes 256,512,1024,2048 ${peak:+--peak-gflops "$peak"} --json "$out/peers.json"
run bench 90 "${cli[@]}" .gpu-kit/bench.mjs --presets small,base --sizes 1024,2048 --json "$out/bench.json"
# The rest of the budget, less a margin for loading the data and the last epoch, goes to training.
minutes=$(awk -v s="$(left)" 'BEGIN { m = (s - 60) / 60; if (m < 1) m = 1; printf "%.1f", m }')
# The cosine schedule is fixed at the start, so the epoch count is fitted to the time: from the
# images/s bench:peers measured for `small` at batch 128 (an epoch: 50,000 images trained and
# 10,000 evaluated, ≈ 60,000 images' worth), at most 100, unless GPU_CHECK_EPOCHS says.
epochs=${GPU_CHECK_EPOCHS:-$(node -e '
  const [file, minutes] = process.argv.slice(1);
  let ips; try { ips = JSON.parse(require("fs").readFileSync(file, "utf8")).presets.find((p) => p.preset === "small").engines[0].imagesPerSecond; } catch {}
  console.log(ips ? Math.max(5, Math.min(100, Math.floor((minutes * 60 * ips) / 60000))) : 30);' "$out/peers.json" "$minutes")}
echo "gpu-check: training small for $epochs epochs (${minutes} min at most)"
run train "$(left)" "${cli[@]}" .gpu-kit/train.mjs --data .gpu-kit/cifar10-jpg.tar.gz --model small --method "${GPU_CHECK_METHOD:-none}" \
  --epochs "$epochs" --batch 128 --target-acc 80 --stop-at-target --max-minutes "$minutes" --quiet --out "$out/train.json"
