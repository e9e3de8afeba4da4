"""The Triton kernels (GPU) vs PyTorch eager and vs `torch.compile` of the same reference code, forward +
backward, at realistic shapes in bf16: milliseconds (median of CUDA-event timings after warm-up) and peak
memory over the call, with ratios and the GPU's name.

Shapes: RMSNorm and SwiGLU / ReLU^2 at 16k tokens x hidden 2048 / 5632; RoPE at 8 x 2048 tokens, 16 heads
of 128 (grouped k: 8 heads); linear + cross-entropy at 8k tokens, hidden 2048, vocab 32k and 128k.

Usage: python bench/kernels.py [--output bench/results/kernels.txt]  (needs a CUDA GPU)
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import common  # first: one thread per process for numeric libraries
import torch

from model.gpt import rope_tables
from model.kernels import reference
from model.kernels.activations import relu2, swiglu
from model.kernels.cross_entropy import linear_cross_entropy
from model.kernels.rmsnorm import rms_norm
from model.kernels.rope import rope_qk


def measure(function: Callable[[], torch.Tensor | tuple], repeats: int = 20) -> tuple[float, int]:
    """(median ms, peak bytes above the start) of forward + backward."""

    def step() -> None:
        out = function()
        outs = out if isinstance(out, tuple) else (out,)
        torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start_bytes = torch.cuda.memory_allocated()
    times = []
    for _ in range(repeats):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        step()
        end.record()
        torch.cuda.synchronize()
        times.append(begin.elapsed_time(end))
    return statistics.median(times), torch.cuda.max_memory_allocated() - start_bytes


def cases() -> dict[str, tuple[Callable, Callable, Callable[[], tuple]]]:
    """name -> (triton function, reference function, make inputs)."""
    bf16 = {"device": "cuda", "dtype": torch.bfloat16, "requires_grad": True}

    def norm_inputs() -> tuple:
        return torch.randn(16384, 2048, **bf16), torch.ones(2048, **bf16)

    def mlp_inputs() -> tuple:
        return torch.randn(16384, 5632, **bf16), torch.randn(16384, 5632, **bf16)

    cos, sin = (t.cuda() for t in rope_tables(2048, 128, 10_000.0))

    def rope_inputs() -> tuple:
        return torch.randn(8, 16, 2048, 128, **bf16), torch.randn(8, 8, 2048, 128, **bf16)

    def ce_inputs(vocab: int) -> Callable[[], tuple]:
        def make() -> tuple:
            hidden = torch.randn(8192, 2048, **bf16)
            weight = (torch.randn(vocab, 2048, device="cuda", dtype=torch.bfloat16) * 0.02).requires_grad_()  # a leaf
            return hidden, weight, torch.randint(0, vocab, (8192,), device="cuda")

        return make

    def reference_rope(q: torch.Tensor, k: torch.Tensor) -> tuple:
        return reference.rope(q, cos, sin), reference.rope(k, cos, sin)

    return {
        "rmsnorm 16k x 2048": (
            lambda x, w: rms_norm(x, w, 1e-6), lambda x, w: reference.rms_norm(x, w, 1e-6), norm_inputs
        ),
        "swiglu 16k x 5632": (swiglu, reference.swiglu, mlp_inputs),
        "relu2 16k x 5632": (lambda x, _: relu2(x), lambda x, _: reference.relu2(x), mlp_inputs),
        "rope q,k 8x2048, 16/8 heads": (lambda q, k: rope_qk(q, k, cos, sin), reference_rope, rope_inputs),
        "linear+CE 8k x 2048, V=32k": (linear_cross_entropy, reference.linear_cross_entropy, ce_inputs(32768)),
        "linear+CE 8k x 2048, V=128k": (linear_cross_entropy, reference.linear_cross_entropy, ce_inputs(131072)),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/kernels.py needs a CUDA GPU")
    report = common.Report()
    say = report.say
    say(
        f"kernels bench on {torch.cuda.get_device_name()}, {common.versions('torch', 'triton')}; bf16, forward+backward"
    )
    rows = []
    for name, (fused, eager, make) in cases().items():
        torch._dynamo.reset()  # each case compiles for its own static shapes
        compiled = torch.compile(eager, dynamic=False)
        inputs = make()
        results = {label: measure(lambda f=f, a=inputs: f(*a)) for label, f in
                   (("triton", fused), ("eager", eager), ("compile", compiled))}  # fmt: skip
        t, e, c = results["triton"], results["eager"], results["compile"]
        rows.append([name, f"{t[0]:.3f}", f"{e[0]:.3f}", f"{c[0]:.3f}", f"{e[0] / t[0]:.2f}x", f"{c[0] / t[0]:.2f}x",
                     f"{t[1] / 2**20:,.0f}", f"{e[1] / 2**20:,.0f}", f"{e[1] / max(t[1], 1):.1f}x"])  # fmt: skip
    headers = ["kernel", "triton ms", "eager ms", "compile ms", "eager/triton", "compile/triton",
               "triton MiB", "eager MiB", "memory saved"]  # fmt: skip
    common.table(say, headers, rows)
    report.save(Path(args.output) if args.output else None)


if __name__ == "__main__":
    main()
