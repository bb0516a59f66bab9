#!/usr/bin/env bash
# The test command (`npm test`): installs what a fresh Debian machine lacks, then typechecks and
# runs every test: kernels against float64 references, the TF.js reference, learning, buffers,
# the gradcheck CLI, and the engine in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-webgpu.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ -z "${LABELFLOW_CIFAR10:-}" ] && [ -d ../shared/datasets/cifar10 ]; then
  export LABELFLOW_CIFAR10="$(cd ../shared/datasets/cifar10 && pwd)"
fi
mkdir -p test-results
npx tsc --noEmit
node scripts/run-tests.mjs tests/unit tests/e2e "$@"
