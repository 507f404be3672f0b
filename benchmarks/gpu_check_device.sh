#!/usr/bin/env bash
# The GPU check in one call on a lent CUDA machine (the device tool's `run`), or on any CUDA machine.
#
# Before (here, once; about 30 s): pack the CIFAR-10 train JPEGs and the NB201 records the check reads (17 MB,
# ignored by git, so it travels only when carried):
#   python -m harness.app.cli gpu-check --pack .gpu-check/cifar10-train.tar.gz --data-root /work/shared/data
# The call (about 8 minutes on one H200; the timeout leaves room for the machine's start):
#   run(command="bash benchmarks/gpu_check_device.sh", carry=[".gpu-check"], timeout_s=590)
# After: copy the files from the call's files_at into results/gpu_check/ and commit them.
#
# Needs python3 with torch, numpy, scipy, h5py, scikit-learn, pillow and tqdm (the device image has them); nothing
# is installed or downloaded. Writes gpu_check.json, gpu_check.md and gpu_check.log to $OUT (the device tool's
# folder that comes back), else to results/gpu_check. The JSON and Markdown are rewritten after each part, so a run
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
