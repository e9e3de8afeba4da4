"""What running a training command again does with its `run.output` (`gristmill train`, `finetune sft | dpo`,
and each run of `gristmill ablate`), so that a rerun never silently destroys a run:

- a run of this config there is resumed from its latest checkpoint, saying so; once that checkpoint is restored,
  `metrics.jsonl` is cut to its step, so it never holds two attempts at a step (TensorBoard purges them alike);
- a finished run (its latest checkpoint is at `run.steps`): nothing to do;
- a run of another config (job, model, tokenizer, data, base, reference), of another data position (run.seed,
  number of processes), past `run.steps`, or step folders that `latest` does not name: refused in one line,
  nothing in the folder changed;
- metrics but no checkpoint (stopped before the first): that attempt is moved aside whole and the run starts at
  step 1 (a W&B run of its own: `wandb-id` moves with it);
- `--restart`: the folder is moved aside to the sibling `<output>.replaced-<UTC time>`, never deleted.

Rank 0 holds the folder (`train.output_folder`) from before it decides until the command ends, so a second
command on it is refused. Under torchrun every rank reads the same folder and the ranks agree
(`train.agreement`) before any of them goes on; only rank 0 moves or rewrites anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from gristmill_base.atomic import write_text_atomic
from gristmill_base.errors import UserError
from train import checkpoint
from train.agreement import agreed, same_on_every_rank
from train.output_folder import HeldFolder
from train.parallel import World

START_OVER = "--restart moves it aside and starts over, or choose another run.output"


@dataclass(frozen=True)
class Continuation:
    step: int = 0  # the steps done: training continues with step + 1
    checkpoint: Path | None = None  # the step folder they are in
    planned_steps: int | None = None  # run.steps of the run continued, where its checkpoint records it
    finished: bool = False


@dataclass(frozen=True)
class Expected:
    """The run a command would continue in its run.output."""

    fingerprint: dict[str, Any]  # the job and its inputs, as every checkpoint's config.json records them
    steps: int  # run.steps
    seed: int  # run.seed: with the number of processes, what a saved data position belongs to
    inputs: dict[str, str | None]  # config key -> path the run reads: never moved aside with the folder


@contextmanager
def claim(output: Path, expected: Expected, restart: bool, world: World, console: Console,
          command: str) -> Iterator[Continuation]:  # fmt: skip
    """Hold `output` for `command` (rank 0, until the `with` ends) and decide where the run writing there starts
    (`restart`: over, the folder moved aside); every rank gets the same Continuation or the same UserError."""
    with ExitStack() as hold:

        def decide() -> Continuation:
            if not world.main:
                return Continuation() if restart else _inspect(output, expected, world.size)
            held = hold.enter_context(HeldFolder(output, command, "run.output"))
            if restart:
                if _holds_run(output):
                    moved = held.move_aside(expected.inputs.items(), "--restart")
                    console.print(f"--restart: the earlier run is now {moved}; starting at step 1")
                return Continuation()
            found = _inspect(output, expected, world.size)
            if found.checkpoint is None and (lines := _metrics_lines(output)):
                moved = held.move_aside(expected.inputs.items(), "starting over")
                console.print(f"{output} held {lines} metrics lines but no checkpoint (stopped before its first): "
                              f"moved to {moved}; starting at step 1")  # fmt: skip
            return found

        found = agreed(decide, world, f"run.output {output}")
        if not same_on_every_rank(found.step, world):
            raise UserError(f"run.output {output}: the ranks see different checkpoints there; it must be a folder "
                            "every rank reads")  # fmt: skip
        if found.finished and world.main:
            console.print(f"{output} holds a finished run ({found.checkpoint.name} of {expected.steps} steps): "
                          "nothing to do; --restart trains it again, moving this one aside")  # fmt: skip
        yield found


def resumed(output: Path, found: Continuation, steps: int, console: Console) -> None:
    """Once the checkpoint `found` names is restored: cut metrics.jsonl to its step and say that the run goes on."""
    if found.checkpoint is None:
        return
    dropped = cut_metrics(output / "metrics.jsonl", found.step)
    cut = f"; metrics.jsonl cut to step {found.step} ({dropped} later lines dropped)" if dropped else ""
    console.print(f"resuming {output}: {found.checkpoint.name} of {steps} steps{cut}")


def cut_metrics(path: Path, step: int) -> int:
    """Keep the records of steps up to `step` (those a checkpoint backs), atomically; how many were dropped. A
    line a kill tore in two is dropped with them: it can only be the last."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            backed = json.loads(line)["step"] <= step
        except (json.JSONDecodeError, KeyError, TypeError):
            backed = False
        if backed:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        write_text_atomic(path, "".join(line + "\n" for line in kept))
    return dropped


def _holds_run(output: Path) -> bool:
    return (output / "latest").is_file() or (output / "metrics.jsonl").is_file() or any(_step_folders(output))


def _metrics_lines(output: Path) -> int:
    path = output / "metrics.jsonl"
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) if path.is_file() else 0


def _step_folders(output: Path) -> list[Path]:
    found = output.glob(f"{checkpoint.STEP_PREFIX}*") if output.is_dir() else []
    return sorted(p for p in found if p.is_dir())


def _inspect(output: Path, expected: Expected, world_size: int) -> Continuation:
    folder = checkpoint.latest(output)
    if folder is None:
        if steps := _step_folders(output):
            raise UserError(f"run.output {output}: {_latest_unusable(output)}; it holds "
                            f"{', '.join(p.name for p in steps)}: write the one to continue from into "
                            f"{output / 'latest'}, or {START_OVER}")  # fmt: skip
        return Continuation()
    try:
        saved, state = checkpoint.read_meta(folder)
    except (OSError, ValueError) as error:
        raise UserError(f"run.output {output}: {error}; {START_OVER}") from None
    step, reason = state["step"], _mismatch(saved, expected.fingerprint)
    if reason:
        raise UserError(f"run.output {output} holds a run of another config ({reason}); {START_OVER}")
    if refusal := _other_position(folder, state, expected.seed, world_size):
        raise UserError(f"run.output {output}: {refusal}; {START_OVER}")
    if step > expected.steps:
        raise UserError(f"run.output {output} holds a run at step {step}, past run.steps = {expected.steps}: raise "
                        f"run.steps to continue it; {START_OVER}")  # fmt: skip
    return Continuation(step, folder, state.get("run_steps"), step == expected.steps)


def _latest_unusable(output: Path) -> str:
    pointer = output / "latest"
    if not pointer.is_file():
        return "`latest` is missing"
    return f"`latest` names {pointer.read_text().strip() or 'nothing'}, not there"


def _mismatch(saved: dict[str, Any], fingerprint: dict[str, Any]) -> str | None:
    """Why a checkpoint's config.json is not of the run `fingerprint` describes; None when it is."""
    if saved.get("job", "pretraining") != fingerprint["job"]:
        return f"a checkpoint of {saved.get('job', 'pretraining')}, not of {fingerprint['job']}"
    if saved.get("tokenizer_sha256") != fingerprint["tokenizer_sha256"]:
        return "trained on data made with another tokenizer"
    if saved.get("packed_sha256", fingerprint.get("packed_sha256")) != fingerprint.get("packed_sha256"):
        # a checkpoint written before the pack was recorded is judged by its tokenizer alone, so it resumes
        return (f"data: another pack, manifest sha256 {saved['packed_sha256'][:12]} there, "
                f"{fingerprint.get('packed_sha256', 'unrecorded')[:12]} in this run")  # fmt: skip
    for key in sorted(set(fingerprint) - {"tokenizer", "tokenizer_sha256", "packed_sha256", "model", "job"}):
        if saved.get(key) != fingerprint[key]:
            return f"{key}: {saved.get(key)} there, {fingerprint[key]} in this run"
    model, ours = saved.get("model", {}), fingerprint["model"]
    differs = sorted(k for k in ours if k != "kernels" and model.get(k) != ours[k])
    if differs:
        return f"trained with another model: {', '.join(f'{k} {model.get(k)} != {ours[k]}' for k in differs)}"
    return None


def _other_position(folder: Path, state: dict[str, Any], seed: int, world_size: int) -> str | None:
    """Why the checkpoint's data position cannot be continued by this run (its order depends on the seed and the
    number of processes); None when it can."""
    position = state.get("data")
    if not isinstance(position, dict) or not isinstance(position.get("seed"), int) or "world_size" not in position:
        return f"{folder / 'state.json'} has no data position (not a gristmill checkpoint's)"
    if (position["seed"], position["world_size"]) != (seed, world_size):
        return (f"{folder.name} holds the data position of seed {position['seed']} and world size "
                f"{position['world_size']}, this run has seed {seed} and world size {world_size}: continue it with "
                f"run.seed = {position['seed']} on {position['world_size']} processes")  # fmt: skip
    return None
