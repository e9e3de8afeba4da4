"""As a script under torchrun (`deciding_ranks.py SCENARIO FOLDER`): every rank decides what a rerun does with a
run.output of its own (FOLDER/rank<RANK>, as if the ranks saw different disks), and writes what it was told to
FOLDER/rank<RANK>.txt before going on, as training would, into a collective.

- `steps`: rank r's folder holds a checkpoint at step 10 r (0, 10, 20 ...);
- `unreadable`: rank 1's `latest` is not text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from gristmill_base.errors import UserError
from train.parallel import all_sum, join_world, leave_world
from train.rerun import Expected, claim

FINGERPRINT = {"job": "pretraining", "tokenizer_sha256": "0" * 64, "model": {}}


def fake_checkpoint(output: Path, step: int, world_size: int) -> None:
    """A step folder as `train.checkpoint.read_meta` reads it (the tensors' files are not read to decide)."""
    folder = output / f"step-{step:06d}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "optimizer.pt").write_bytes(b"")
    (folder / "config.json").write_text(json.dumps(FINGERPRINT))
    data = {"epoch": 0, "step": step, "seed": 0, "world_size": world_size}
    (folder / "state.json").write_text(json.dumps({"step": step, "data": data, "run_steps": 30}))
    (output / "latest").write_text(folder.name + "\n")


def decide(scenario: str, folder: Path) -> None:
    world = join_world()
    output, said = folder / f"rank{world.rank}", folder / f"rank{world.rank}.txt"
    if scenario == "steps" and world.rank:
        fake_checkpoint(output, 10 * world.rank, world.size)
    if scenario == "unreadable" and world.rank == 1:
        output.mkdir()
        (output / "latest").write_bytes(b"\xff\xfe step")
    try:
        with claim(output, Expected(FINGERPRINT, 30, 0, {}), False, world, Console(quiet=True), "test") as found:
            said.write_text(f"continues after step {found.step}")
            all_sum([1.0], world)  # training's first collective
    except UserError as error:
        said.write_text(f"refused: {error}")
    finally:
        leave_world(world)


if __name__ == "__main__":
    decide(sys.argv[1], Path(sys.argv[2]))
