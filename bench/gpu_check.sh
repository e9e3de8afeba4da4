#!/usr/bin/env bash
# Every GPU check of the model and trainer in one go, for a machine with one CUDA GPU, in about 8 minutes at
# most (each step's time limit below; together 480 s):
#   1. gpu.txt: the GPU and the versions of torch and triton (20 s);
#   2. gpu-tests.txt: the CUDA-only tests, the whole pytest output (220 s): every Triton kernel against the
#      reference, forward and backward, bf16 and fp32; FlexAttention document masks against attention written
#      out in the test; the trainer on the GPU against the reference kernels;
#   3. kernels.txt: bench/kernels.py, each Triton kernel vs PyTorch eager and torch.compile (90 s);
#   4. train.txt: bench/train.py, tokens/s and MFU of the 124M-class model, $TRAIN_STEPS steps (default 12),
#      compiled with the Triton kernels and with the reference ones (150 s; all five variants, eager too: run
#      bench/train.py alone).
# Each step's whole output (stdout and stderr) goes to its file; a bench's report is its .txt, the rest of its
# output (warnings, a traceback) its .log. A failing or timed-out step (or a skipped GPU test) does not stop the
# later ones, but the script then exits 1 and its last line (also appended to gpu.txt) names the failed steps;
# without a usable GPU it stops after step 1. Files go to $OUT when set (the lent device machine), else
# bench/results/.
#
# On the lent machine (no network; its image has torch and triton but not every dependency), carry wheels for
# what is missing, at least pydantic, pydantic-core, annotated-types, typing-inspection, zstandard and dill
# (see ../.library/device/README.md), and start the command with their install, e.g.
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# No install is attempted here: the repository root goes on PYTHONPATH instead.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
results="${OUT:-bench/results}"
mkdir -p "$results"
failed=()

# step NAME FILE SECONDS COMMAND...: run COMMAND with a time limit, its output shown and written to FILE; a
# non-zero exit (124: timed out) is noted in `failed`.
step() {
    local name=$1 file=$2 limit=$3
    shift 3
    echo "== $name: $* (limit ${limit} s)"
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$results/$file"
    local status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        failed+=("$name (exit $status$([ "$status" -eq 124 ] && echo ', timed out'))")
    fi
}

# finish SUFFIX: if any step failed, say which (and SUFFIX) on the last line and in gpu.txt, and exit 1.
finish() {
    if [ "${#failed[@]}" -ne 0 ]; then
        echo "gpu_check: FAILED: ${failed[*]}$1" | tee -a "$results/gpu.txt"
        exit 1
    fi
}

step versions gpu.txt 20 python3 -c \
    'import torch, triton; print(torch.cuda.get_device_name(), "torch", torch.__version__, "triton", triton.__version__)'
finish "; no usable GPU: nothing else run"
step tests gpu-tests.txt 220 python3 -m pytest -q -rs -p no:cacheprovider tests/model/kernels/test_gpu.py \
    tests/model/test_attention_gpu.py tests/train/test_train_gpu.py
if grep -q "skipped" "$results/gpu-tests.txt"; then  # a skipped GPU test checked nothing
    failed+=("tests (some skipped: see gpu-tests.txt)")
fi
step kernels kernels.log 90 python3 bench/kernels.py --output "$results/kernels.txt"
step train train.log 150 python3 bench/train.py --steps "${TRAIN_STEPS:-12}" --output "$results/train.txt" \
    --variants triton:compiled torch:compiled

finish ""
echo "gpu_check: every step passed" | tee -a "$results/gpu.txt"
