#!/usr/bin/env bash
# The device check in one command (issue 13): adapters, launch latency, a 40-task meta-gradient +
# HVP and a replay sample on webgpu against wasm; one JSON line at the end. Under 8 minutes on a
# 2-core machine (the software adapter is slow: its sizes are cut unless a hardware GPU is found).
set -euo pipefail
cd "$(dirname "$0")/.."
# A Vulkan loader lets Dawn find a real GPU; Mesa's EGL gives the software adapter otherwise.
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true; fi
if ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  exec timeout 480 npx tsx scripts/gpu-check.ts --backends webgpu,wasm "$@"
else
  echo "gpu-check: no Vulkan loader (libvulkan1): webgpu can only use the software adapter; sizes cut to 8 tasks × 1000 rows" >&2
  exec timeout 480 npx tsx scripts/gpu-check.ts --backends webgpu,wasm --tasks 8 --rows 1000 --reps 2 "$@"
fi
