#!/usr/bin/env bash
# Every GPU check of the model and trainer in one run (for a machine with one CUDA GPU):
#   1. the CUDA-only tests (kernels in bf16 at model shapes against the reference);
#   2. bench/kernels.py: each Triton kernel vs PyTorch eager and torch.compile, time and peak memory;
#   3. bench/train.py: tokens/s and MFU of the 124M-class model, Triton kernels on / off, compiled / eager.
# Results go to bench/results/ (or $OUT when set, as on the lent device machine).
set -uo pipefail
cd "$(dirname "$0")/.."
results="${OUT:-bench/results}"
mkdir -p "$results"
python -m pip install --quiet -e ".[dev]" >/dev/null 2>&1 || echo "note: pip install failed; using what is installed"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$results/gpu.txt"
TRITON_INTERPRET=0 python -m pytest -q tests/model/kernels/test_gpu.py tests/train/test_train_gpu.py 2>&1 | tail -5 | tee "$results/gpu-tests.txt"
python bench/kernels.py --output "$results/kernels.txt"
python bench/train.py --output "$results/train.txt"
