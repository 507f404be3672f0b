#!/usr/bin/env bash
# The GPU check in one call on a CUDA machine that receives a copy of the working tree (no reference data there).
#
# Before (here, once; about 30 s): pack the CIFAR-10 train JPEGs and the NB201 records the check reads (17 MB,
# ignored by git, so copy it along explicitly):
#   python -m harness.app.cli gpu-check --pack .gpu-check/cifar10-train.tar.gz --data-root ../shared/data
# There (about 8 minutes on one H200), with .gpu-check/ copied along:
#   bash benchmarks/gpu_check_device.sh
# After: copy the files it wrote into results/gpu_check/ and commit them.
#
# Needs python3 with torch, numpy, scipy, h5py, scikit-learn, pillow and tqdm; nothing
# is installed or downloaded. Writes gpu_check.json, gpu_check.md and gpu_check.log to $OUT (a folder that is
# copied back), else to results/gpu_check. The JSON and Markdown are rewritten after each part, so a run
# stopped by the timeout still returns the parts it finished.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-results/gpu_check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 BPEBENCH_CACHE_DIR="${BPEBENCH_CACHE_DIR:-/tmp/bpebench-cache}"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  timeout 570 python3 -m harness.app.cli gpu-check --archive .gpu-check/cifar10-train.tar.gz --out "$out" \
    --budget "${GPU_CHECK_BUDGET:-450}" "$@"
  echo "gpu-check exit code $?"
} 2>&1 | tee "$out/gpu_check.log"
