#!/usr/bin/env bash
# Every GPU check of the model and trainer in one go, for a machine with one CUDA GPU:
#   1. the CUDA-only tests (kernels in bf16 at model shapes against the reference; FlexAttention document
#      masks against masked SDPA; the trainer on the GPU);
#   2. bench/kernels.py: each Triton kernel vs PyTorch eager and torch.compile, time and peak memory;
#   3. bench/train.py: tokens/s and MFU of the 124M-class model, Triton kernels on / off, compiled / eager.
# Output goes to $OUT when set (the lent device machine), else bench/results/.
#
# On the lent H200 (no network; its image has torch and triton but not every dependency), carry wheels for
# what is missing, at least pydantic, pydantic-core, annotated-types, typing-inspection, zstandard and dill
# (see ../.library/device/README.md), and start the command with their install, e.g.
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# No install is attempted here: the repository root goes on PYTHONPATH instead.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
results="${OUT:-bench/results}"
mkdir -p "$results"
python3 - <<'PY' | tee "$results/gpu.txt"
import torch, triton
print(torch.cuda.get_device_name(), "torch", torch.__version__, "triton", triton.__version__)
PY
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/model/kernels/test_gpu.py tests/model/test_attention_gpu.py \
    tests/train/test_train_gpu.py 2>&1 \
    | tail -5 | tee "$results/gpu-tests.txt"
timeout 300 python3 bench/kernels.py --output "$results/kernels.txt"
timeout 420 python3 bench/train.py --steps "${TRAIN_STEPS:-20}" --output "$results/train.txt"
