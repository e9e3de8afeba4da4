"""Training throughput and MFU of `gristmill train` itself on one GPU: a GPT-2-124M-class model (d 768, 12
layers, 12 heads, seq 1024, vocab 50304), bf16 autocast; compiled with all Triton kernels, with only the
fused linear + cross-entropy ("triton-ce", what `kernels = "auto"` picks under compile) and with none; eager
with and without them. Each variant is a real `run_training` call on a packed folder of random tokens (the
loader, optimizer, clipping and logging included); tokens/s and MFU are the trainer's own figures over its
timing windows after the first (warm-up and compilation); peak memory is `torch.cuda.max_memory_allocated`.

Usage: python bench/train.py [--steps 30] [--output bench/results/train.txt]     (every variant)
       python bench/train.py --variants triton:compiled torch:compiled   (bench/gpu_check.sh's two)
       python bench/train.py --preset tiny --seq-len 64 --micro-batch 4 --global-batch 8 --steps 6   (CPU smoke)
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import common  # first: one thread per process for numeric libraries
import numpy as np
import torch
from rich.console import Console

sys.path.remove(str(Path(__file__).resolve().parent))  # this file's name would hide the `train` package

from model.config import preset
from train.config import TrainConfig
from train.loop import run_training

EOS = 0
VARIANTS = [("triton", "compiled"), ("triton-ce", "compiled"), ("torch", "compiled"), ("triton", "eager"),
            ("torch", "eager")]  # fmt: skip


def random_packed(folder: Path, tokens: int, vocab: int, seed: int = 0) -> Path:
    """A packed folder (docs/formats.md layout) of uniformly random tokens in documents of ~1000 tokens."""
    rng = np.random.default_rng(seed)
    stream = rng.integers(1, vocab, tokens, dtype=np.int64)
    ends = np.arange(1000, tokens, 1000, dtype=np.int64)
    stream[ends - 1] = EOS
    ends = np.append(ends, tokens)
    stream[-1] = EOS
    shards = {}
    for split, (start, stop) in {"train": (0, tokens - tokens // 20), "val": (tokens - tokens // 20, tokens)}.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        stream[start:stop].astype("<u2").tofile(folder / split / "part-00000.bin")
        split_ends = ends[(ends > start) & (ends <= stop)] - start
        split_ends.astype("<i8").tofile(folder / split / "part-00000.idx")
        shard = {"bin": f"{split}/part-00000.bin", "idx": f"{split}/part-00000.idx", "tokens": int(stop - start),
                 "documents": len(split_ends)}  # fmt: skip
        shards[split] = {"shards": [shard], "tokens": shard["tokens"], "documents": shard["documents"]}
    manifest = {"dtype": "uint16", "eos_id": EOS, "vocab_size": vocab, "tokenizer_sha256": "0" * 64, **shards}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def run_variant(args: argparse.Namespace, packed: Path, output: Path, kernels: str, compiled: bool) -> dict:
    config = TrainConfig.model_validate({
        "model": {"preset": args.preset, "kernels": kernels},
        "data": {"path": str(packed), "seq_len": args.seq_len, "micro_batch": args.micro_batch,
                 "global_batch": args.global_batch},
        "optim": {"lr": 6e-4, "warmup": 2},
        "run": {"steps": args.steps, "output": str(output), "log_every": max(1, args.steps // 4),
                "eval_sequences": args.micro_batch, "compile": compiled,
                "dtype": "bf16" if torch.cuda.is_available() else "fp32"},
    })  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    records = run_training(config, console=Console(file=io.StringIO()))
    windows = [r for r in records if "tokens_per_s" in r][1:]  # the first window may still hold recompilation
    windows = windows or [r for r in records if "tokens_per_s" in r]
    peak_memory = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    return {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in windows),
        "mfu": statistics.median(r["mfu"] for r in windows) if "mfu" in windows[0] else None,
        "loss": records[-1]["loss"],
        "memory": peak_memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="124m")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variants", nargs="+", choices=[f"{k}:{m}" for k, m in VARIANTS], metavar="KERNELS:MODE",
                        help="on a GPU, these only (default all five: " + " ".join(f"{k}:{m}" for k, m in VARIANTS) +
                        ")")  # fmt: skip
    parser.add_argument("--output")
    args = parser.parse_args()
    report = common.Report()
    say = report.say
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else common.cpu_model()
    model = preset(args.preset, seq_len=args.seq_len)
    say(f"train bench on {device}, {common.versions('torch', 'triton')}")
    say(f"model {args.preset}: {model.parameters():,} parameters, {model.flops_per_token():,} FLOPs per token; "
        f"seq {args.seq_len}, {args.global_batch * args.seq_len:,} tokens per step, {args.steps} steps, "
        f"{'bf16 autocast' if cuda else 'fp32 (no GPU)'}")  # fmt: skip
    chosen = [tuple(v.split(":")) for v in args.variants] if args.variants else VARIANTS
    variants = [(kernels, mode == "compiled") for kernels, mode in chosen] if cuda else [("torch", False)]
    with tempfile.TemporaryDirectory() as work:
        tokens = (args.steps + 4) * args.global_batch * (args.seq_len + 1) * 21 // 20 + 10_000
        packed = random_packed(Path(work) / "packed", tokens, model.vocab_size)
        results = {}
        for kernels, compiled in variants:
            label = f"{kernels} kernels, {'compiled' if compiled else 'eager'}"
            results[label] = run_variant(args, packed, Path(work) / label.replace(" ", "_"), kernels, compiled)
    base = results.get("torch kernels, compiled") or next(iter(results.values()))
    rows = [[label, f"{r['tokens_per_s']:,.0f}", f"{100 * r['mfu']:.1f}%" if r["mfu"] else "n/a",
             f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x", f"{r['memory'] / 2**30:.1f}", f"{r['loss']:.3f}"]
            for label, r in results.items()]  # fmt: skip
    common.table(say, ["variant", "tokens/s", "MFU", "vs torch compiled", "peak GiB", "last loss"], rows)
    report.save(Path(args.output) if args.output else None)


if __name__ == "__main__":
    main()
