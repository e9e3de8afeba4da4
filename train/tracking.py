"""What a run tells its user: a console line every `log_every` steps (step, loss, lr, grad norm, tokens/s,
MFU, ETA), every step in `metrics.jsonl`, the same scalars to TensorBoard and / or Weights & Biases when
asked for (`run.report_to`), and a one-screen summary at the end.

Throughput is measured over the steps since the last console line, after the first step (which carries
compilation and warm-up), from wall-clock time less evaluation and checkpoint time; the loss's `.item()`
each step synchronises the device, so the clock sees finished work. MFU = achieved FLOPs (model FLOPs per
token x tokens/s) / the device's peak dense bf16 FLOPs, from a table of common GPUs or `run.peak_tflops`;
it is left out where neither applies.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from gristmill_base.atomic import write_text_atomic
from gristmill_base.errors import UserError
from model.hardware import accelerator


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    known = accelerator(torch.cuda.get_device_name(device))
    return known.bf16_tflops * 1e12 if known else None


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Throughput:
    """Tokens/s, MFU and ETA over the window since the last report. Tokens are what each step really fed (a
    fine-tune's padding is not counted), so MFU = model FLOPs of those tokens / time / peak."""

    def __init__(self, flops_per_token: int, peak: float | None, total_steps: int):
        self.flops_per_token, self.peak, self.total_steps = flops_per_token, peak, total_steps
        self.window_start: tuple[int, float] | None = None
        self.window_tokens = 0
        self.timed_tokens, self.timed_seconds = 0, 0.0
        self.latest: dict[str, float] = {}

    def count(self, step: int, tokens: int) -> None:
        """(1-based) `step` fed `tokens`. Timing starts after the first step counted: it carries warm-up and
        compilation."""
        if self.window_start is None:
            self.window_start = (step, time.perf_counter())
        else:
            self.window_tokens += tokens

    def exclude(self, seconds: float) -> None:
        """Leave out time that is not training (evaluation, checkpoints) from the current window."""
        if self.window_start is not None:
            self.window_start = (self.window_start[0], self.window_start[1] + seconds)

    def report(self, step: int) -> dict[str, float]:
        """Figures for the window ending at (1-based) `step`, then a new window starts."""
        now = time.perf_counter()
        if self.window_start is None or step <= self.window_start[0]:
            return {}
        first, began = self.window_start
        steps, seconds = step - first, max(now - began, 1e-9)
        self.timed_tokens, self.timed_seconds = self.timed_tokens + self.window_tokens, self.timed_seconds + seconds
        tokens_per_s = self.window_tokens / seconds
        self.window_start, self.window_tokens = (step, now), 0
        figures = {"tokens_per_s": tokens_per_s, "eta_s": (self.total_steps - step) * seconds / steps}
        if self.peak:
            figures["mfu"] = tokens_per_s * self.flops_per_token / self.peak
        self.latest = figures
        return figures

    def mean_tokens_per_s(self) -> float | None:
        return self.timed_tokens / self.timed_seconds if self.timed_seconds else None


class MetricSinks:
    """metrics.jsonl (rank 0), plus TensorBoard / W&B when asked for: a missing package is a clear error at start."""

    def __init__(self, output: Path, report_to: list[str], project: str, config: dict[str, Any], enabled: bool,
                 start: int = 0):  # fmt: skip
        """`start`: the step a resumed run continues after. metrics.jsonl has been cut to it (`train.rerun`);
        TensorBoard readers drop an earlier attempt's later events (`purge_step`); W&B keeps one run across
        attempts and ignores a step it already has (docs: the values of a deterministic rerun are the same)."""
        self.enabled, self.path = enabled, output / "metrics.jsonl"
        self.tensorboard = self.wandb = None
        if not enabled:
            return
        if "tensorboard" in report_to:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("run.report_to has 'tensorboard': pip install tensorboard") from None
            self.tensorboard = SummaryWriter(str(output / "tensorboard"), purge_step=start + 1)
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError:
                raise UserError("run.report_to has 'wandb': pip install wandb") from None
            run_id = output / "wandb-id"  # one W&B run across resumes
            if not run_id.is_file():
                write_text_atomic(run_id, secrets.token_hex(8))
            self.wandb = wandb.init(project=project, name=output.name, dir=str(output), config=config,
                                    id=run_id.read_text().strip(), resume="allow")  # fmt: skip

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        scalars = {k: v for k, v in record.items() if k != "step" and isinstance(v, int | float)}
        if self.tensorboard is not None:
            for key, value in scalars.items():
                self.tensorboard.add_scalar(key, value, record["step"])
        if self.wandb is not None:
            self.wandb.log(scalars, step=record["step"])

    def flush(self) -> None:
        """Put every record so far on disk (metrics.jsonl is appended line by line; TensorBoard buffers)."""
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()


def console_line(record: dict[str, Any], total_steps: int) -> str:
    parts = [f"step {record['step']}/{total_steps}", f"loss {record['loss']:.4f}", f"lr {record['lr']:.2e}",
             f"grad {record['grad_norm']:.3f}"]  # fmt: skip
    if "val_loss" in record:
        parts.append(f"val {record['val_loss']:.4f}")
    if "val_bpb" in record:
        parts.append(f"bpb {record['val_bpb']:.4f}")
    if "val_accuracy" in record:
        parts.append(f"val accuracy {record['val_accuracy']:.3f}")
    parts += [f"{key.split('/', 1)[1].replace('_', ' ')} {value:.4f}" for key, value in record.items()
              if key.startswith(("eval/", "dpo/"))]  # fmt: skip
    if "tokens_per_s" in record:
        parts.append(f"{record['tokens_per_s']:,.0f} tok/s")
    if "mfu" in record:
        parts.append(f"MFU {100 * record['mfu']:.1f}%")
    if "eta_s" in record:
        parts.append(f"ETA {duration(record['eta_s'])}")
    return " | ".join(parts)


def summary(console: Console, facts: list[tuple[str, str]], title: str = "gristmill train") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in facts:
        table.add_row(key, value)
    console.print(table)
