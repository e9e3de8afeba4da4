"""Where there are several GPUs, `gristmill ablate` trains runs side by side in `gristmill train` children:
killed alone with SIGKILL (as the OOM killer does), it leaves none of them training on, so its rerun starts no
second writer of the same run folder."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from process_factory import HANG, Processes, exits
from tiny_training import SECTIONS, write_learnable_packed

from gristmill_base.lifetime import ProcessIdentity, start_time, stat_fields

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children are bound on Linux")


def children(pid: int) -> list[int]:
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        fields = stat_fields(int(name))
        if fields and int(fields[1]) == pid:  # its parent
            found.append(int(name))
    return found


def test_a_training_child_dies_with_the_ablation_killed_alone(tmp_path: Path):
    packed = write_learnable_packed(tmp_path / "packed")
    output = tmp_path / "ablation"
    run_folder = output / "train" / "a"
    config = tmp_path / "a.toml"
    config.write_text(
        SECTIONS.format(data=packed) + f'[run]\nsteps = 1000000\nlog_every = 1\noutput = "{run_folder}"\n'
    )
    runs = [tmp_path / "packed", tmp_path]  # any two folders: this ablation's steps before training are not run
    (output / "train").mkdir(parents=True)
    with Processes() as processes:
        ablation = processes.python(f"""
            from pathlib import Path
            from rich.console import Console
            from train.ablate.steps import AblateOptions, Ablation
            options = AblateOptions(runs={list(map(str, runs))!r}, output={str(output)!r}, tokens=1000)
            Ablation(options, Console())._train_in_parallel({{"a": Path({str(config)!r})}}, ["a"], gpus=2)
        """)
        deadline = time.monotonic() + HANG  # against a hang only
        while not (run_folder / "metrics.jsonl").is_file() and ablation.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ablation.poll() is None, "the ablation ended before its child trained"
        [child] = children(ablation.pid)
        training = ProcessIdentity(processes.adopt(child), start_time(child))
        ablation.kill()  # the ablation alone
        ablation.wait()
        assert exits(training)
